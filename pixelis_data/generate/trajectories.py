"""Assembling a sample: task builder -> trajectory of the sample type's shape -> pixelis-format record.

Each sample is a pure function of (seed, index): its own ``random.Random`` is seeded from both, so a
sample never depends on the ones before it, on ``n``, or on anything hashed per process.
"""

from __future__ import annotations

import copy
import random
from bisect import bisect
from collections.abc import Iterator
from itertools import accumulate

from pixelis_data.generate import steps as st
from pixelis_data.generate.draft import Builder, Draft
from pixelis_data.generate.scene import Obj, Scene, padded, pick
from pixelis_data.generate.tasks_layout import relationship_detection, spatial_reasoning
from pixelis_data.generate.tasks_objects import attribute_recognition, geometric_comparison, object_counting
from pixelis_data.generate.tasks_text_time import temporal_tracking, text_extraction
from pixelis_data.generate.vocab import (
    IMAGE_SIZES,
    LENGTH_WEIGHTS,
    LENGTHS,
    P_REPEAT_SEGMENT,
    P_TRIPLE_ZOOM,
    SAMPLE_TYPE_SHARE,
    SAMPLING_WEIGHTS,
    SELF_CORRECTION_OPENERS,
    TASKS,
)
from pixelis_data.schema import SAMPLE_TYPES

BUILDERS: dict[str, Builder] = {
    "temporal_tracking": temporal_tracking,
    "geometric_comparison": geometric_comparison,
    "spatial_reasoning": spatial_reasoning,
    "relationship_detection": relationship_detection,
    "attribute_recognition": attribute_recognition,
    "object_counting": object_counting,
    "text_extraction": text_extraction,
}
VARIANT_OF: dict[str, str] = {
    "positive": "plain",
    "outcome_negative": "negative",
    "trap_perceptual": "perceptual",
    "trap_logical": "logical",
    "self_correction": "plain",
}
_TYPE_CUM = list(accumulate(SAMPLE_TYPE_SHARE[t] for t in SAMPLE_TYPES))
_LEN_CUM = list(accumulate(LENGTH_WEIGHTS))
_SPATIAL_KEYS = ("bbox", "region", "coordinates")
_SHIFTS = ((0.5, 0.33), (0.33, 0.5), (0.5, 0.0), (0.0, 0.5), (0.25, 0.75), (0.75, 0.25))
_THINK_RATES = (0.0, 0.15, 0.3, 0.5)  # share of THINK among a sample's filler steps: varies reasoning depth
_NOTES_ABOUT = (
    "The {o} is not what the question asks about.",
    "I should not confuse the {o} with the {t}.",
    "The {o} can be ignored for this question.",
)
_NOTES = (
    "So far the observations agree with each other.",
    "Let me make sure nothing else in the image matches the question.",
    "Nothing else in view bears on the question.",
)


def sample_rng(seed: int, index: int) -> random.Random:
    """The generator of sample ``index`` under ``seed`` (both non-negative; index below 2**40)."""
    return random.Random((seed << 40) | index)


def _filler(rng: random.Random, d: Draft, pool: list[Obj], w: int, h: int, think_rate: float) -> st.Step:
    """One step that inspects something beside the point (what real trajectories are full of)."""
    if not pool or rng.random() < think_rate:
        if pool and rng.random() < 0.5:
            return st.think(pick(rng, _NOTES_ABOUT).format(o=pick(rng, pool).name, t=d.target.ref))
        return st.think(pick(rng, _NOTES))
    o = pick(rng, pool)
    r = rng.random()
    if o.shape == "sign" and r < 0.3:
        return st.read_text(rng, o, w, h, thought=f"Read the {o.name} too, to rule it out.")
    if r < 0.4:
        return st.zoom(rng, o, w, h, seen=f"{o.a_name.capitalize()}; not what the question is about.")
    if r < 0.7:
        return st.segment(rng, o, thought=f"Segment the {o.name} to rule it out.")
    return st.properties(rng, o, ("color", "shape"), thought=f"Check what the {o.name} is.")


def _without_accidental_triples(steps: list[st.Step], fillers: list[st.Step]) -> list[st.Step]:
    """``steps`` minus the filler steps that complete three equal actions in a row.

    Three equal actions are an error pattern of the scorer; only the deliberate repeats added after
    this should make one. Triples of required steps (never seen with the current builders) are kept.
    """
    optional = {id(s) for s in fillers}
    out: list[st.Step] = []
    for step in steps:
        out.append(step)
        while len(out) >= 3 and out[-1]["action"] == out[-2]["action"] == out[-3]["action"]:
            drop = next((i for i in (-1, -2, -3) if id(out[i]) in optional), None)
            if drop is None:
                break
            del out[drop]
    return out


def _misplaced(value: list[int], key: str, target: Obj, w: int, h: int) -> list[int]:
    """Where a wrong step looks instead: the same-sized region (or point) moved away from ``target``."""
    tx1, ty1, tx2, ty2 = target.box
    if key == "coordinates":
        for dx, dy in _SHIFTS:
            x, y = (value[0] + int(w * dx)) % w, (value[1] + int(h * dy)) % h
            if not (tx1 <= x <= tx2 and ty1 <= y <= ty2):
                return [x, y]
        return [0 if tx1 > 0 else w - 1, 0 if ty1 > 0 else h - 1]
    bw, bh = value[2] - value[0], value[3] - value[1]
    for dx, dy in _SHIFTS:
        x1 = (value[0] + int(w * dx)) % max(1, w - bw + 1)
        y1 = (value[1] + int(h * dy)) % max(1, h - bh + 1)
        if x1 + bw <= tx1 or x1 >= tx2 or y1 + bh <= ty1 or y1 >= ty2:
            return [x1, y1, x1 + bw, y1 + bh]
    # The region is too big to miss the target anywhere: a small one in the corner farthest from it.
    side = max(8, min(w, h) // 6)
    x1 = 0 if (tx1 + tx2) / 2 > w / 2 else w - side
    y1 = 0 if (ty1 + ty2) / 2 > h / 2 else h - side
    return [x1, y1, x1 + side, y1 + side]


def self_correct(rng: random.Random, step: st.Step, target: Obj, w: int, h: int) -> list[st.Step]:
    """[wrong step, THINK with a self-correction phrase, corrected step] for a step with a region/point.

    The corrected step is a ``copy.deepcopy`` of the wrong one, then modified: it shares no list or
    dict with the wrong step, so editing one can never change the other.
    """
    key = next(k for k in _SPATIAL_KEYS if k in step["parameters"])
    wrong = {
        "action": step["action"],
        "thought": step["thought"],
        "parameters": {**step["parameters"], key: _misplaced(step["parameters"][key], key, target, w, h)},
        "result": f"This does not show the {target.ref}; only background and unrelated shapes.",
    }
    where = "point" if key == "coordinates" else "region"
    fix = st.think(
        f"{pick(rng, SELF_CORRECTION_OPENERS)} The {where} {wrong['parameters'][key]} missed the {target.ref}. "
        f"Let me try again around {list(target.centre)}."
    )
    corrected = copy.deepcopy(wrong)
    corrected["parameters"][key][:] = step["parameters"][key]
    corrected["thought"] = f"Retry at the {target.ref}'s actual position."
    corrected["result"] = step["result"]
    return [wrong, fix, corrected]


def _triple_zoom(target: Obj, w: int, h: int) -> list[st.Step]:
    """Three ZOOM_IN in a row, each closer: a repeated-action pattern the scorer counts."""
    return [
        st.zoom_box(padded(target.box, pad, w, h), thought, result)
        for pad, thought, result in (
            (28, f"Zoom in on the area of the {target.ref}.", "A wide crop; the object is small in it."),
            (12, "Zoom in further.", f"Closer: the {target.ref} is clearer now."),
            (3, "Zoom in once more to see the edges.", f"The {target.ref} fills the crop."),
        )
    ]


def assemble(rng: random.Random, d: Draft, sample_type: str, length: int, w: int, h: int) -> list[st.Step]:
    """The trajectory: about ``length`` steps (more when the sample type needs them), ending in THINK."""
    head: list[st.Step] = []
    extra = 0
    if sample_type == "trap_logical":
        head.append(st.think(f'The question states: "{d.claim}" I should check this instead of assuming it.'))
        extra = 2
    elif sample_type in ("trap_perceptual", "self_correction"):
        extra = 2
    budget = max(0, length - 2 - extra)
    if budget and rng.random() < 0.7:
        head.insert(0, st.think(d.goal))
        budget -= 1
    n_core = min(len(d.core) - 1, budget)
    budget -= n_core
    core = d.core[: 1 + n_core]
    fix = None  # the self-correction THINK
    if sample_type == "self_correction":
        i = next((i for i, s in enumerate(core) if any(k in s["parameters"] for k in _SPATIAL_KEYS)), None)
        if i is None:  # the spatial step was cut for length: bring the first one back
            i = next(i for i, s in enumerate(d.core) if any(k in s["parameters"] for k in _SPATIAL_KEYS))
            core = [*core, d.core[i]]
            i = len(core) - 1
        core[i : i + 1] = self_correct(rng, core[i], d.target, w, h)
        fix = core[i + 1]
    body = [core[0], *(d.careful if sample_type == "trap_perceptual" else ()), *core[1:]]
    # Fillers look at objects the question does not name, and neither the answer nor the lure.
    named = f"{d.question}\n{d.ground_truth}\n{d.answer}\n{d.target.name}"
    pool = [o for o in d.scene.objects if o is not d.lure and o.name not in named]
    think_rate = pick(rng, _THINK_RATES)
    fillers = [_filler(rng, d, pool, w, h, think_rate) for _ in range(budget)]
    body += fillers
    tail = [st.think(f"The premise is wrong: {d.refutation}.")] if sample_type == "trap_logical" else []
    steps = _without_accidental_triples([*head, *body, *tail, st.think(d.conclusion)], fillers)
    body = steps[len(head) : len(steps) - len(tail) - 1]
    if rng.random() < P_TRIPLE_ZOOM:
        body[0:0] = _triple_zoom(d.target, w, h)
    if rng.random() < P_REPEAT_SEGMENT:
        # never repeat the wrong step of a self-correction (the one just before its THINK)
        wrong = next((body[i - 1] for i, s in enumerate(body) if s is fix), None)
        segments = [s for s in body if s["action"] == "SEGMENT_OBJECT_AT" and s is not wrong]
        seg = segments[-1] if segments else st.segment(rng, d.target)
        again = copy.deepcopy(seg)
        again["thought"] = "Segment the same point again to double-check the mask."
        body += [again] if segments else [seg, again]
    return [*head, *body, *tail, steps[-1]]


def build_sample(seed: int, index: int) -> tuple[dict, Scene]:
    """Sample ``index`` (1-based) of ``seed`` as a pixelis-format dict, and the scene its image shows."""
    rng = sample_rng(seed, index)
    task = TASKS[int(rng.random() * len(TASKS))]
    sample_type = SAMPLE_TYPES[bisect(_TYPE_CUM, rng.random() * _TYPE_CUM[-1])]
    w, h = pick(rng, IMAGE_SIZES)
    d = BUILDERS[task](rng, w, h, VARIANT_OF[sample_type])
    length = LENGTHS[bisect(_LEN_CUM, rng.random() * _LEN_CUM[-1])]
    trajectory = assemble(rng, d, sample_type, length, w, h)
    question = f"{d.claim} {d.question}" if sample_type == "trap_logical" else d.question
    sample = {
        "sample_id": f"syn-{seed}-{index:07d}",
        "task_type": task,
        "sample_type": sample_type,
        "question": question,
        "image_path": f"img_{index:07d}.png",
        "image_size": [w, h],
        "trajectory": trajectory,
        "answer": d.answer,
        "ground_truth": d.ground_truth,
        "sampling_weight": SAMPLING_WEIGHTS[sample_type],
    }
    return sample, d.scene


def generate_with_scenes(n: int, seed: int = 0) -> Iterator[tuple[dict, Scene]]:
    """Samples 1..n of ``seed`` with their scenes (for the image writer)."""
    for index in range(1, n + 1):
        yield build_sample(seed, index)
