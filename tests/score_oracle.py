"""A plain per-sample Python implementation of docs/design.md §4, written from the formulas, used as the test oracle."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pixelis_data.config import ScoreConfig


def _phrase_hit(thought: str | None, phrases: tuple[str, ...]) -> bool:
    if not thought:
        return False
    text = thought.lower().replace("’", "'")
    for phrase in phrases:
        for m in re.finditer(re.escape(phrase.lower()), text):
            before = text[m.start() - 1] if m.start() > 0 else " "
            after = text[m.end()] if m.end() < len(text) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                return True
    return False


def _coordinates(parameters: str | None, field: str) -> Any:
    try:
        value = json.loads(parameters) if parameters else None
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    coords = value.get(field)
    if coords is None or coords == [] or coords == "":
        return None
    return json.dumps(coords, separators=(",", ":"))


def score_record(rec: dict[str, Any], cfg: ScoreConfig | None = None) -> dict[str, Any]:
    """Factor values, diagnostics and composite of one canonical record."""
    cfg = cfg or ScoreConfig()
    steps = rec["trajectory"] or []
    acts = [s["action"] for s in steps]
    table = cfg.operations.complexity
    known = [a for a in acts if a in table]
    length = len(acts)

    tc = cfg.trajectory
    curve = min(1.0, math.log(length + 1) / math.log(tc.saturation_steps + 1))
    traj = tc.short_score if length < tc.min_steps else curve

    ops = cfg.operations
    if not known:
        soph = ops.no_known_score
    else:
        max_w = max(table.values())
        soph = min(
            1.0, sum(table[a] for a in known) / (len(known) * max_w) + ops.unique_bonus * len(set(known)) / len(known)
        )

    rc = cfg.reasoning
    n_think = sum(a == rc.think_action for a in acts)
    if length == 0:
        depth = 0.0
    else:
        r = n_think / length
        if r < rc.low_ratio:
            depth = r / rc.low_ratio
        elif r <= rc.high_ratio:
            depth = 1.0
        else:
            depth = 1 - (r - rc.high_ratio) / rc.over_range * rc.over_penalty

    ec = cfg.errors
    phrase = any(_phrase_hit(s.get("thought"), ec.phrases) for s in steps)
    run = ec.repetition_run
    reps = sum(1 for i in range(run - 1, len(known)) if all(known[i] == known[i - k] for k in range(1, run)))
    seen: list[Any] = []
    repeats = 0
    for s in steps:
        if s["action"] != ec.coordinate_action:
            continue
        c = _coordinates(s.get("parameters"), ec.coordinate_field)
        if c is None:
            continue
        if c in seen:
            repeats += 1
        seen.append(c)
    errors = (ec.phrase_score if phrase else 0.0) + ec.repetition_score * reps
    errors += ec.repeated_coordinate_score * repeats + ec.sample_type_modifiers.get(rec.get("sample_type"), 0.0)
    errors = min(ec.cap, errors)

    task_table = {k.lower(): v for k, v in cfg.task.difficulty.items()}
    task = task_table.get((rec.get("task_type") or "").lower(), cfg.task.default)

    values = {
        "trajectory_complexity": traj,
        "operation_sophistication": soph,
        "reasoning_depth": depth,
        "error_patterns": errors,
        "task_type_score": task,
    }
    composite = sum(cfg.weights[k] * v for k, v in values.items())  # weights are keyed by output column
    values["difficulty_score"] = min(cfg.clip_max, max(cfg.clip_min, composite))
    values.update(
        n_steps=length,
        n_known_ops=len(known),
        n_unique_ops=len(set(known)),
        n_think=n_think,
        n_repetitions=reps,
        has_self_correction=phrase or rec.get("sample_type") == "self_correction",
        has_backtracking=repeats > 0,
        n_unknown_ops=length - len(known),
    )
    return values
