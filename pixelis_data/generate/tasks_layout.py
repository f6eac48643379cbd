"""Task builders about where objects are: spatial_reasoning and relationship_detection."""

from __future__ import annotations

import random

from pixelis_data.generate import steps as st
from pixelis_data.generate.draft import Draft
from pixelis_data.generate.scene import Obj, Scene, box_in, cells, distinct_objects, pick, sample, union
from pixelis_data.generate.vocab import BACKGROUNDS, LOOKALIKE

# relation -> (axis, A before B on that axis)
_RELATIONS: dict[str, tuple[int, bool]] = {
    "to the left of": (0, True),
    "to the right of": (0, False),
    "above": (1, True),
    "below": (1, False),
}
_RELATION_NAMES: tuple[str, ...] = tuple(_RELATIONS)
_NEGATION = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
}


def spatial_reasoning(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """Is the A <relation> the B? The lure (a look-alike of A) sits on B's other side."""
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    grid = cells(w, h, 4, 3)
    relation = pick(rng, _RELATION_NAMES)
    axis, _ = _RELATIONS[relation]
    # Three distinct lines on the relation's axis, B in the middle: A and the lure on opposite sides.
    lines = sorted(sample(rng, range(4 if axis == 0 else 3), 3))
    a_line, l_line = (lines[0], lines[2]) if rng.random() < 0.5 else (lines[2], lines[0])
    b_line = lines[1]
    other = sample(rng, range(3 if axis == 0 else 4), 3)

    def cell(line: int, j: int) -> tuple[int, int, int, int]:
        return grid[other[j] * 4 + line] if axis == 0 else grid[line * 4 + other[j]]

    (ca, sa), (cb, sb), (cx, sx) = distinct_objects(rng, 3)
    a = Obj(sa, ca, box_in(rng, cell(a_line, 0)))
    b = Obj(sb, cb, box_in(rng, cell(b_line, 1)))
    scene.objects = [a, b]
    lure = None
    if variant in ("perceptual", "negative"):
        lure = Obj(sa, LOOKALIKE[ca], box_in(rng, cell(l_line, 2)))
        scene.objects.append(lure)
    elif rng.random() < 0.6:
        scene.objects.append(Obj(sx, cx, box_in(rng, cell(l_line, 2))))
    seen_a = Obj(sa, ca, lure.box) if variant == "negative" else a
    truth_holds = (a.centre[axis] < b.centre[axis]) == _RELATIONS[relation][1]
    seen_holds = (seen_a.centre[axis] < b.centre[axis]) == _RELATIONS[relation][1]
    truth, given = ("yes" if truth_holds else "no"), ("yes" if seen_holds else "no")
    coord = "x" if axis == 0 else "y"
    core = [
        st.zoom_box(
            list(union([a.box, b.box])),
            f"Find both the {a.name} and the {b.name}.",
            f"The {a.name} is at {seen_a.centre} and the {b.name} at {b.centre}.",
        ),
        st.segment(rng, seen_a, thought=f"Segment the {a.name} to get its centroid."),
        st.segment(rng, b, thought=f"Segment the {b.name} to get its centroid."),
        st.properties(rng, seen_a, ("position",), colour=ca),
    ]
    holds = "is" if seen_holds else "is not"
    return Draft(
        scene=scene,
        question=f"Is the {a.name} {relation} the {b.name}?",
        ground_truth=truth,
        answer=given,
        goal=f"I need the centres of the {a.name} and the {b.name} and compare their {coord} coordinates.",
        core=core,
        conclusion=f"The {a.name} has {coord} = {seen_a.centre[axis]} and the {b.name} {coord} = "
        f"{b.centre[axis]}, so it {holds} {relation} it: {given}.",
        target=a,
        careful=[]
        if lure is None
        else [
            st.zoom(rng, lure, w, h, seen=f"This is {lure.a_name}, not the {a.name}; it must not be used."),
            st.properties(rng, lure, ("color", "position"), thought=f"Make sure this is not the {a.name}."),
        ],
        claim=f"The {a.name} is {relation if not truth_holds else _NEGATION[relation]} the {b.name}.",
        refutation=f"the centres show the {a.name} {'is' if truth_holds else 'is not'} {relation} the {b.name}",
        lure=lure,
    )


def relationship_detection(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """Which shape is inside the frame? The frame covers a 2x2 block of a 4x3 grid."""
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    grid = cells(w, h, 4, 3)
    c0, r0 = int(rng.random() * 3), int(rng.random() * 2)
    block = {(r0 + dr) * 4 + c0 + dc for dr in (0, 1) for dc in (0, 1)}
    fx1, fy1, _, _ = grid[r0 * 4 + c0]
    _, _, fx2, fy2 = grid[(r0 + 1) * 4 + c0 + 1]
    frame = (fx1 + 3, fy1 + 3, fx2 - 3, fy2 - 3)
    frame_colour = pick(rng, ("gray", "brown", "blue"))
    scene.outlines.append((frame_colour, frame))
    outside = [i for i in range(12) if i not in block]
    slots = sample(rng, outside, 4)
    objs = distinct_objects(rng, 4)
    inner = Obj(objs[0][1], objs[0][0], box_in(rng, (frame[0] + 6, frame[1] + 6, frame[2] - 6, frame[3] - 6), 0.3, 0.6))
    outs = [Obj(s, c, box_in(rng, grid[slots[j]])) for j, (c, s) in enumerate(objs[1 : 2 + int(rng.random() * 3)])]
    lure = None
    if variant in ("perceptual", "negative"):
        lure = Obj(inner.shape, LOOKALIKE[inner.colour], box_in(rng, grid[slots[3]]))
        outs.append(lure)
    scene.objects = [inner, *outs]
    chosen = lure if variant == "negative" else inner
    core = [
        st.zoom_box(
            list(frame),
            f"Zoom in on the {frame_colour} frame to see what is inside it.",
            f"Inside the {frame_colour} frame there is {chosen.a_name}.",
        ),
        st.segment(rng, chosen, thought="Segment the object inside the frame."),
        st.properties(rng, chosen, ("color", "shape", "position")),
    ]
    x1, y1, x2, y2 = frame
    return Draft(
        scene=scene,
        question=f"Which shape is inside the {frame_colour} frame?",
        ground_truth=inner.name,
        answer=chosen.name,
        goal=f"I need to find the {frame_colour} frame and the one shape within its borders.",
        core=core,
        conclusion=f"The {chosen.name} lies within the frame [{x1}, {y1}, {x2}, {y2}], so the answer is the "
        f"{chosen.name}.",
        target=inner,
        careful=[]
        if lure is None
        else [
            st.zoom(rng, lure, w, h, seen=f"The {lure.name} is outside the frame, next to it; it is not the answer."),
            st.properties(rng, lure, ("color", "position"), thought="Is this similar-looking shape inside the frame?"),
        ],
        claim=f"The {outs[0].name} is inside the {frame_colour} frame.",
        refutation=f"the {outs[0].name} lies outside the frame; only the {inner.name} is inside it",
        lure=lure,
    )
