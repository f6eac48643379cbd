"""Task builders about single objects: object_counting, attribute_recognition, geometric_comparison."""

from __future__ import annotations

import random

from pixelis_data.generate import steps as st
from pixelis_data.generate.draft import Draft, plural
from pixelis_data.generate.scene import Obj, Scene, box_in, cells, indefinite, others, pick, sample, scaled, union
from pixelis_data.generate.vocab import BACKGROUNDS, COLOUR_NAMES, LOOKALIKE, SHAPES


def _colours_besides(rng: random.Random, colour: str, k: int) -> list[str]:
    """``k`` colours that are neither ``colour`` nor its look-alike (so only a trap is ambiguous)."""
    return others(rng, COLOUR_NAMES, (colour, LOOKALIKE[colour]), k)


def object_counting(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """How many <colour> <shape>s? Distractors share either the colour or the shape."""
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    grid = cells(w, h, 4, 3)
    slots = sample(rng, range(12), 10)
    shape, colour = pick(rng, SHAPES), pick(rng, COLOUR_NAMES)
    k = 1 + int(rng.random() * 5)
    targets = [Obj(shape, colour, box_in(rng, grid[slots[i]])) for i in range(k)]
    n_other = 2 + int(rng.random() * 3)
    cols = _colours_besides(rng, colour, n_other)
    other_shapes = others(rng, SHAPES, (shape,), 4)
    distractors = [
        Obj(shape, cols[j], box_in(rng, grid[slots[k + j]]))
        if j % 2 == 0
        else Obj(other_shapes[j % 4], colour, box_in(rng, grid[slots[k + j]]))
        for j in range(n_other)
    ]
    lure = None
    if variant in ("perceptual", "negative"):
        lure = Obj(shape, LOOKALIKE[colour], box_in(rng, grid[slots[k + n_other]]))
        distractors.append(lure)
    scene.objects = targets + distractors
    name = f"{colour} {shape}"
    seen = list(targets)
    if variant == "negative":
        # Either an object is missed or the look-alike is counted as one more.
        seen = seen[:-1] if k > 1 and rng.random() < 0.5 else [*seen, Obj(shape, colour, lure.box)]
    n = len(seen)
    core = [st.count(name, seen, f"Detect every {name} in the image and count them.")]
    for i, o in enumerate(seen[:5]):
        core.append(st.segment(rng, o, thought=f"Segment the {name} at {o.centre} to confirm it."))
        if i % 2 == 1 and i + 1 < min(n, 5):  # a running tally between masks, as a careful counter does
            core.append(st.think(f"That makes {i + 1} {plural(name, i + 1)} confirmed so far."))
    return Draft(
        scene=scene,
        question=f"How many {plural(name, 2)} are in the image?",
        ground_truth=str(k),
        answer=str(n),
        goal=f"I need to find all {plural(name, 2)} and count them, ignoring other shapes and colours.",
        core=core,
        conclusion=f"The detections and masks give {n} {plural(name, n)}, so the answer is {n}.",
        target=targets[0],
        careful=[]
        if lure is None
        else [
            st.zoom(rng, lure, w, h, seen=f"Close-up: this one is {lure.colour}, not {colour}; it does not count."),
            st.properties(rng, lure, ("color", "shape"), thought=f"Is this {lure.colour} {shape} really {colour}?"),
        ],
        claim=f"There are {k + 2} {plural(name, k + 2)} in this picture.",
        refutation=f"there are {k} {plural(name, k)}, not {k + 2}",
        lure=lure,
    )


def attribute_recognition(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """What colour is the <shape>? / What shape is the <colour> object?"""
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    grid = cells(w, h, 3, 3)
    slots = sample(rng, range(9), 5)
    shapes = sample(rng, SHAPES, 5)
    colour = pick(rng, COLOUR_NAMES)
    n_other = 1 + int(rng.random() * 3)
    cols = _colours_besides(rng, colour, n_other)
    ask_shape = variant != "negative" and rng.random() < 0.3
    ref = f"{colour} object" if ask_shape else shapes[0]
    target = Obj(shapes[0], colour, box_in(rng, grid[slots[0]], 0.5, 0.9), ref=ref)
    scene.objects = [target] + [Obj(shapes[1 + j], cols[j], box_in(rng, grid[slots[1 + j]])) for j in range(n_other)]
    lure = None
    if variant == "perceptual":
        lure = Obj(shapes[n_other + 1], LOOKALIKE[colour], box_in(rng, grid[slots[4]]))
        scene.objects.append(lure)
    seen_colour = LOOKALIKE[colour] if variant == "negative" else colour
    seen = Obj(target.shape, seen_colour, target.box)  # what a negative sample misperceives
    core = [
        st.properties(rng, target, ("color", "shape"), colour=seen_colour),
        st.zoom(rng, target, w, h, seen=f"Zoomed view: {seen.a_name} fills most of the crop."),
        st.segment(rng, target, seen=seen),
    ]
    if ask_shape:
        question, truth = f"What shape is the {colour} object?", target.shape
        wrong = pick(rng, [s for s in SHAPES if s != target.shape])
        claim = f"The {colour} object is a {wrong}."
        refutation = f"the {colour} object is a {target.shape}, not a {wrong}"
    else:
        question, truth = f"What color is the {target.shape}?", colour
        claim = f"The {target.shape} is {LOOKALIKE[colour]}."
        refutation = f"the {target.shape} is {colour}, not {LOOKALIKE[colour]}"
    given = target.shape if ask_shape else seen_colour
    return Draft(
        scene=scene,
        question=question,
        ground_truth=truth,
        answer=given,
        goal=f"I need to locate the {ref} and read off its {'shape' if ask_shape else 'color'}.",
        core=core,
        conclusion=f"The properties say the object is {indefinite(seen_colour)} {seen_colour} {target.shape}, "
        f"so the answer is {given}.",
        target=target,
        careful=[]
        if lure is None
        else [
            st.properties(rng, lure, ("color",), thought=f"The {lure.shape} nearby has a similar hue; check it."),
            st.zoom(
                rng,
                target,
                w,
                h,
                seen=f"Under magnification the {target.shape} is clearly {colour}, "
                f"distinct from the {lure.colour} {lure.shape}.",
            ),
        ],
        claim=claim,
        refutation=refutation,
        lure=lure,
    )


def geometric_comparison(rng: random.Random, w: int, h: int, variant: str) -> Draft:
    """Which is larger (by area), the A or the B?"""
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    grid = cells(w, h, 3, 2)
    slots = sample(rng, range(6), 4)
    shapes = sample(rng, SHAPES, 3)
    cols = sample(rng, COLOUR_NAMES, 4)
    big_shape = shapes[0]
    if variant == "perceptual":
        # Near-equal sizes of the same shape: only a measurement tells them apart.
        big = Obj(big_shape, cols[0], box_in(rng, grid[slots[0]], 0.8, 0.9))
        side = int((big.box[2] - big.box[0]) * (0.86 + 0.06 * rng.random()))
        x1, y1, _, _ = box_in(rng, grid[slots[1]], 0.9, 0.9)
        small = Obj(big_shape, cols[1], (x1, y1, x1 + side, y1 + side))
    else:
        big = Obj(big_shape, cols[0], box_in(rng, grid[slots[0]], 0.8, 0.95))
        small = Obj(shapes[1], cols[1], box_in(rng, grid[slots[1]], 0.3, 0.5))
    if big.area <= small.area:  # a triangle with a bigger box can still cover less
        big, small = small, big
    extra = [Obj(shapes[2], cols[2 + j], box_in(rng, grid[slots[2 + j]], 0.3, 0.6)) for j in range(2)]
    scene.objects = [big, small, *extra[: int(rng.random() * 3)]]
    a, b = (big, small) if rng.random() < 0.5 else (small, big)
    negative = variant == "negative"
    # A negative sample's mask of the larger object covers only part of it, so it looks smaller.
    seen_big = Obj(big.shape, big.colour, scaled(big.box, 0.8 * (small.area / big.area) ** 0.5)) if negative else big
    seen = {id(big): seen_big, id(small): small}
    winner = small if negative else big
    ua = union([a.box, b.box])
    core = [
        st.zoom_box(
            [max(0, ua[0] - 4), max(0, ua[1] - 4), min(w, ua[2] + 4), min(h, ua[3] + 4)],
            f"Look at the {a.name} and the {b.name} together.",
            f"Both are visible: the {a.name} covers about {seen[id(a)].area} px and the {b.name} "
            f"about {seen[id(b)].area} px.",
        ),
        st.segment(rng, a, seen=seen[id(a)]),
        st.segment(rng, b, seen=seen[id(b)]),
        st.properties(rng, seen[id(a)], ("size",)),
        st.properties(rng, seen[id(b)], ("size",)),
    ]
    return Draft(
        scene=scene,
        question=f"Which is larger, the {a.name} or the {b.name}?",
        ground_truth=big.name,
        answer=winner.name,
        goal=f"I need the areas of the {a.name} and the {b.name}, not just their bounding boxes.",
        core=core,
        conclusion=f"The {winner.name} has the larger area ({winner.area} px), so the answer is the {winner.name}.",
        target=big,
        careful=[]
        if variant != "perceptual"
        else [
            st.properties(rng, big, ("size",), thought="The two look almost the same size; measure the first."),
            st.properties(rng, small, ("size",), thought="Now measure the second one precisely."),
        ],
        claim=f"The {small.name} is clearly the bigger of the two.",
        refutation=f"the {small.name} covers {small.area} px, less than the {big.name}'s {big.area} px",
        lure=small if variant == "perceptual" else None,
    )
