"""Task builders for text and time: text_extraction (signs) and temporal_tracking (2x2 video frames)."""

from __future__ import annotations

import random

from pixelis_data.generate import steps as st
from pixelis_data.generate.draft import Draft
from pixelis_data.generate.scene import Obj, Scene, box_in, cells, distinct_objects, indefinite, pick, sample
from pixelis_data.generate.vocab import BACKGROUNDS, DIRECTIONS, LOOKALIKE, OPPOSITE, SIGN_WORDS


def text_extraction(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """What does the <colour> sign say? The near-miss word is what a careless reading gives."""
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    grid = cells(w, h, 2, 3)
    slots = sample(rng, range(6), 4)
    words = sample(rng, SIGN_WORDS, 3)
    word, near = words[0]
    n_signs = 1 + int(rng.random() * 3)
    colours = [c for c, _ in distinct_objects(rng, n_signs)]
    small = variant == "perceptual"
    target = Obj(
        "sign", colours[0], box_in(rng, grid[slots[0]], 0.45 if small else 0.6, 0.55 if small else 0.8, 2.6), text=word
    )
    signs = [target] + [
        Obj("sign", colours[j], box_in(rng, grid[slots[j]], 0.55, 0.8, 2.6), text=words[j][0])
        for j in range(1, n_signs)
    ]
    lure = None
    if small:
        lure = Obj("sign", LOOKALIKE[target.colour], box_in(rng, grid[slots[3]], 0.55, 0.8, 2.6), text=near)
        signs.append(lure)
    scene.objects = signs
    read = near if variant == "negative" else word
    core = [
        st.read_text(rng, target, w, h, text=read),
        st.zoom(
            rng,
            target,
            w,
            h,
            thought="Zoom in to confirm each character.",
            seen=f"Close-up of the {target.name}: the letters read '{read}'.",
        ),
        st.properties(rng, target, ("color", "position")),
    ]
    return Draft(
        scene=scene,
        question=f"What does the {target.name} say?",
        ground_truth=word,
        answer=read,
        goal=f"I need to find the {target.name} and read its text exactly.",
        core=core,
        conclusion=f"The text on the {target.name} is '{read}', so the answer is {read}.",
        target=target,
        careful=[]
        if lure is None
        else [
            st.read_text(rng, lure, w, h, thought=f"The {lure.name} looks similar; read it to tell them apart."),
            st.zoom(
                rng,
                target,
                w,
                h,
                thought=f"The text on the {target.name} is small; zoom in before trusting it.",
                seen=f"Magnified: '{word}', and it differs from '{near}' on the {lure.name}.",
            ),
        ],
        claim=f"The {target.name} reads '{near}'.",
        refutation=f"the {target.name} reads '{word}', not '{near}'",
        lure=lure,
    )


def temporal_tracking(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """In which direction does the object move across four frames (a 2x2 grid of panels)?"""
    scene = Scene(w, h, pick(rng, BACKGROUNDS), panels=4)
    pw, ph = w // 2, h // 2
    direction = pick(rng, DIRECTIONS)
    (colour, shape), (rc, rs) = distinct_objects(rng, 2)
    side = int(min(pw, ph) * (0.16 + 0.06 * rng.random()))
    horizontal = direction in ("left", "right")
    # A static reference object in a band along one edge, the same in every panel; the mover keeps
    # to the far side of the panel and the lure to the middle, so nothing overlaps.
    band = (0, 0, pw, ph // 4) if horizontal else (0, 0, pw // 4, ph)
    ref_box = box_in(rng, band, 0.5, 0.8)
    start = 0.05 + 0.15 * rng.random()
    across = 0.75 + 0.25 * rng.random()  # the mover's fixed coordinate, as a fraction of the free range
    lure_colour = LOOKALIKE[colour] if variant in ("perceptual", "negative") else ""

    def path(d: str, frame: int, fixed: float) -> tuple[int, int]:
        t = start + (0.95 - start) * frame / 3
        if d in ("left", "up"):
            t = 1 - t
        u, v = (t, fixed) if horizontal else (fixed, t)
        return int(u * (pw - side)), int(v * (ph - side))

    objs, pos, lure_pos = [], [], []
    for f in range(4):
        ox, oy = (f % 2) * pw, (f // 2) * ph
        x, y = path(direction, f, across)
        mover = Obj(shape, colour, (ox + x, oy + y, ox + x + side, oy + y + side), frame=f)
        objs += [Obj(rs, rc, (ox + ref_box[0], oy + ref_box[1], ox + ref_box[2], oy + ref_box[3]), frame=f), mover]
        pos.append((x + side // 2, y + side // 2))  # within its frame: what "moving" means
        if lure_colour:
            lx, ly = path(OPPOSITE[direction], f, across - 0.38)
            lure = Obj(shape, lure_colour, (ox + lx, oy + ly, ox + lx + side, oy + ly + side), frame=f)
            objs.append(lure)
            lure_pos.append((lx + side // 2, ly + side // 2))
    scene.objects = objs
    name = f"{colour} {shape}"
    negative = variant == "negative"
    seen_pos, seen_dir = (lure_pos, OPPOSITE[direction]) if negative else (pos, direction)
    first, last = objs[1], objs[-2] if lure_colour else objs[-1]
    axis = "x" if horizontal else "y"
    core = [
        st.track(name, seen_pos, f"Track the {name} through the four frames."),
        st.segment(rng, first, thought=f"Segment the {name} in the first frame."),
        st.segment(rng, last, thought=f"Segment the {name} in the last frame."),
        st.properties(rng, last, ("position",), thought=f"Confirm where the {name} ends up."),
    ]
    if negative:
        core = core[:1]
    (x0, y0), (x3, y3) = seen_pos[0], seen_pos[-1]
    return Draft(
        scene=scene,
        question=f"In which direction does the {name} move across the four frames?",
        ground_truth=direction,
        answer=seen_dir,
        goal=f"I need the {name}'s position in each frame, in order, and the change of its {axis} coordinate.",
        core=core,
        conclusion=f"Within its frame the {name} goes from ({x0}, {y0}) in frame 0 to ({x3}, {y3}) in frame 3, "
        f"so it moves {seen_dir}.",
        target=first,
        careful=[]
        if not lure_colour
        else [
            st.track(
                f"{lure_colour} {shape}",
                lure_pos,
                f"{indefinite(lure_colour).capitalize()} {lure_colour} {shape} moves too; track it separately.",
            ),
            st.properties(rng, first, ("color",), thought=f"Make sure the tracked object is the {colour} one."),
        ],
        claim=f"The {name} moves {OPPOSITE[direction]}.",
        refutation=f"its centre goes from {pos[0]} to {pos[-1]}, so it moves {direction}",
        lure=None,
    )
