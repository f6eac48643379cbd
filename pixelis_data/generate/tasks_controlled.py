"""The controlled counting task (``pixelis generate --task counting``): difficulty that is real.

The image is a 3x3 grid of labelled regions A..I. A question names k of them (in a random order, the
order the trajectory visits them); each observation step (ZOOM_IN on a region, or GET_PROPERTIES of
the shape in it) states one count or one colour, a THINK after it states what was seen (and between
the first and the last observation, the running computation), and the answer is a fixed function of
the k observations:

- ``sum``: "How many red circles are there in regions E, A and C together?" -> the sum of the counts;
- ``most``: "Which of regions E, A and C has the most red circles?" -> the region with the largest count
  (there is always exactly one);
- ``property``: "How many of the shapes in regions E, A and C are red?" -> how many have that colour.

With k = 1 the answer is read off the one observation (copy); with more it is composed, so the levels
simple (k = 1), medium (k = 2-3) and hard (k = 4-6) need one skill built on the other. Levels rotate by
sample index, so each is a third of the samples, which puts the split's default 33rd / 66th percentile
thresholds between them; every sample is a positive (answer == ground_truth). The scene is drawn
first and the observations are read off it, so ``--images`` shows exactly what the trajectory says.
"""

from __future__ import annotations

import random

from pixelis_data.generate import steps as st
from pixelis_data.generate.draft import plural
from pixelis_data.generate.scene import Box, Obj, Scene, box_in, cells, others, pick, sample
from pixelis_data.generate.trajectories import sample_rng
from pixelis_data.generate.vocab import BACKGROUNDS, COLOUR_NAMES, LOOKALIKE, SHAPES

SIZE = (288, 288)  # one size for every sample: a region's bbox is then a fixed function of its letter
REGIONS = "ABCDEFGHI"  # row by row over the 3x3 grid
REGION_BOXES: tuple[Box, ...] = cells(SIZE[0], SIZE[1], 3, 3)
LEVELS: dict[str, tuple[int, ...]] = {"simple": (1,), "medium": (2, 3), "hard": (4, 5, 6)}
"""Category -> the numbers of observations its samples compose."""
KINDS: tuple[str, ...] = ("sum", "most", "property")
TASK_TYPE_OF: dict[str, str] = {
    "sum": "object_counting",
    "most": "object_counting",
    "property": "attribute_recognition",
}
MAX_COUNT = 3  # targets per region: 0..3, so answers stay one or two tokens (at most 18)
MAX_OTHERS = 2  # distractors per region: 0..2
P_ASKED_COLOUR = 0.4  # property kind: chance that a region's shape has the asked colour


def _unlike(colour: str) -> tuple[str, ...]:
    """The colours that are neither ``colour`` nor a look-alike of it (in either direction)."""
    return tuple(c for c in COLOUR_NAMES if c not in (colour, LOOKALIKE[colour]) and LOOKALIKE[c] != colour)


def level_of(index: int) -> str:
    """The category sample ``index`` (1-based) is built for: simple, medium, hard, simple, ..."""
    return tuple(LEVELS)[(index - 1) % len(LEVELS)]


def _label(letter: str, region: Box) -> Obj:
    """The small sign with the region's letter in its top-left corner."""
    x1, y1 = region[0], region[1]
    return Obj("sign", "gray", (x1 + 4, y1 + 4, x1 + 24, y1 + 20), text=letter)


def _area(region: Box) -> Box:
    """Where a region's objects go: below its label, inside its outline."""
    x1, y1, x2, y2 = region
    return x1 + 4, y1 + 24, x2 - 4, y2 - 4


def _slots(region: Box) -> tuple[Box, ...]:
    """The object places of a region: its area as a 3x2 grid (room for every target and distractor)."""
    return cells(SIZE[0], SIZE[1], 3, 2, _area(region))


def _listed(letters: list[str]) -> str:
    """ "region C" / "regions A and C" / "regions A, C and E"."""
    if len(letters) == 1:
        return f"region {letters[0]}"
    return f"regions {', '.join(letters[:-1])} and {letters[-1]}"


def _target_counts(rng: random.Random, kind: str, chosen: list[int]) -> list[int]:
    """Targets per region, 0..MAX_COUNT; for the most kind, redrawn until one asked region leads alone."""
    counts = [int(rng.random() * (MAX_COUNT + 1)) for _ in REGIONS]
    while kind == "most" and len(chosen) > 1:
        top = sorted(counts[r] for r in chosen)
        if top[-1] != top[-2]:
            break
        for r in chosen:
            counts[r] = int(rng.random() * (MAX_COUNT + 1))
    return counts


def _count_scene(rng: random.Random, scene: Scene, colour: str, shape: str, targets: list[int]) -> list[int]:
    """Draw ``targets[r]`` targets and 0..MAX_OTHERS distractors into every region; the distractors per region.

    Distractors share the colour or the shape of the targets, never both, and never a look-alike
    colour, so the count is unambiguous in the image too.
    """
    n_others = []
    colours = sample(rng, _unlike(colour), 3)
    shapes = others(rng, SHAPES, (shape,), 3)
    for region, n_target in zip(REGION_BOXES, targets, strict=True):
        n_other = int(rng.random() * (MAX_OTHERS + 1))
        places = sample(rng, _slots(region), n_target + n_other)
        for i, place in enumerate(places):
            if i < n_target:
                scene.objects.append(Obj(shape, colour, box_in(rng, place, 0.6, 0.9)))
            elif rng.random() < 0.5:
                scene.objects.append(Obj(shape, pick(rng, colours), box_in(rng, place, 0.6, 0.9)))
            else:
                scene.objects.append(Obj(pick(rng, shapes), colour, box_in(rng, place, 0.6, 0.9)))
        n_others.append(n_other)
    return n_others


PLANS: dict[str, str] = {
    "sum": "Zoom in on each region, count, and add up the counts.",
    "most": "Zoom in on each region, count, and keep the region with the largest count.",
    "property": "Check the color of the shape in each region and count the matches.",
}
"""The first THINK of each kind: the method, in the same words for every sample of the kind."""


def running(kind: str, letter: str, step: int, last: bool, before: tuple[int, str], seen: int) -> tuple[int, str]:
    """The value after observation ``step`` (0-based) and the THINK that follows it, as (value, leader), text.

    ``seen`` is the observed count (a colour match counts 1 for the property kind: "yes" / "no"),
    ``before`` the (value, leading region) after the previous observations; the value is the running sum
    (sum, property) or the largest count so far (most), the leader the region holding it. The first and
    the last observation are only stated ("Region C: 3."); the ones between show the step:
    "Region C: 3; 2 + 3 = 5." (sum, property), "Region C: 3; most so far: C (3)." (most). So the answer
    of a simple sample is a copy of its one observation, and the answer of a composed sample is one more
    step of the running computation.
    """
    said = ("yes" if seen else "no") if kind == "property" else str(seen)
    if step == 0:
        now = (seen, letter)
    elif kind == "most":
        now = (seen, letter) if seen > before[0] else before
    else:
        now = (before[0] + seen, letter)
    if step == 0 or last:
        return now, f"Region {letter}: {said}."
    if kind == "most":
        return now, f"Region {letter}: {said}; most so far: {now[1]} ({now[0]})."
    return now, f"Region {letter}: {said}; {before[0]} + {seen} = {now[0]}."


def _counting(rng: random.Random, scene: Scene, kind: str, chosen: list[int]) -> tuple[str, list, str]:
    """Question, steps and answer of the sum / most kinds."""
    colour, shape = pick(rng, COLOUR_NAMES), pick(rng, SHAPES)
    name = f"{colour} {shape}"
    targets = _target_counts(rng, kind, chosen)
    n_others = _count_scene(rng, scene, colour, shape, targets)
    where = _listed([REGIONS[r] for r in chosen])
    if len(chosen) == 1:
        question = f"How many {plural(name, 2)} are in {where}?"
    elif kind == "sum":
        question = f"How many {plural(name, 2)} are there in {where} together?"
    else:
        question = f"Which of {where} has the most {plural(name, 2)}?"
    steps: list[st.Step] = []
    state = (0, "")
    for i, r in enumerate(chosen):
        letter, c, d = REGIONS[r], targets[r], n_others[r]
        seen = f"Region {letter}: {c} {plural(name, c)} and {d} other {plural('shape', d)}."
        steps.append(st.zoom_box(list(REGION_BOXES[r]), f"Zoom in on region {letter}.", seen))
        state, thought = running(kind, letter, i, i == len(chosen) - 1, state, c)
        steps.append(st.think(thought))
    return question, steps, state[1] if kind == "most" else str(state[0])


def _property(rng: random.Random, scene: Scene, chosen: list[int]) -> tuple[str, list, str]:
    """Question, steps and answer of the property kind: one shape per region, count one colour."""
    colour = pick(rng, COLOUR_NAMES)
    besides = _unlike(colour)
    shapes: list[Obj] = []
    for r, region in enumerate(REGION_BOXES):
        c = colour if rng.random() < P_ASKED_COLOUR else pick(rng, besides)
        box = box_in(rng, _area(region), 0.6, 0.9)
        shapes.append(Obj(pick(rng, SHAPES), c, box, ref=f"shape in region {REGIONS[r]}"))
    scene.objects += shapes
    question = f"How many of the shapes in {_listed([REGIONS[r] for r in chosen])} are {colour}?"
    steps: list[st.Step] = []
    state = (0, "")
    for i, r in enumerate(chosen):
        o = shapes[r]
        steps.append(st.properties(rng, o, ("color", "shape"), thought=f"Check the color of the {o.ref}."))
        state, thought = running("property", REGIONS[r], i, i == len(chosen) - 1, state, int(o.colour == colour))
        steps.append(st.think(thought))
    return question, steps, str(state[0])


def build_counting_sample(seed: int, index: int) -> tuple[dict, Scene]:
    """Sample ``index`` (1-based) of the counting task under ``seed``, and the scene its image shows."""
    rng = sample_rng(seed, index)
    k = pick(rng, LEVELS[level_of(index)])
    kind = pick(rng, KINDS)
    if k == 1 and kind == "most":  # one region leads alone: ask for its count, a sum of one
        kind = "sum"
    w, h = SIZE
    scene = Scene(w, h, pick(rng, BACKGROUNDS))
    scene.outlines = [("gray", box) for box in REGION_BOXES]
    scene.objects = [_label(letter, box) for letter, box in zip(REGIONS, REGION_BOXES, strict=True)]
    chosen = sample(rng, range(len(REGIONS)), k)
    if kind == "property":
        question, steps, answer = _property(rng, scene, chosen)
    else:
        question, steps, answer = _counting(rng, scene, kind, chosen)
    record = {
        "sample_id": f"cnt-{seed}-{index:07d}",
        "task_type": TASK_TYPE_OF[kind],
        "sample_type": "positive",
        "question": question,
        "image_path": f"img_{index:07d}.png",
        "image_size": [w, h],
        "trajectory": [st.think(PLANS[kind]), *steps],
        "answer": answer,
        "ground_truth": answer,
        "sampling_weight": 1.0,
    }
    return record, scene
