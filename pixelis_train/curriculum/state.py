"""The policy state: a small JSON-serialisable dict, stored in every checkpoint.

Keys (all policies share the shape; ``fixed`` and ``none`` leave the adaptive-only keys at rest):

- ``policy``: which policy wrote it (a state is only accepted by the same policy);
- ``stage``: index of the stage in force; ``stage_start``: step at which it started (0 at the start,
  the decision step after an advance or a rollback);
- ``history``: stage performances measured in this stage (the last ``window`` are kept);
- ``last_step``: step of the last evaluation (evaluations must come in increasing step order);
- ``last_rollback``: step of the last rollback (None: none yet), which starts the cooldown;
- ``rollback_count``; ``interval_scale``: product of the backoff factors of all rollbacks so far;
- ``probation``: after an unforced advance, ``{"p_before", "evaluations"}`` while the
  first ``window`` evaluations of the new stage are checked against p_before; else None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

STATE_KEYS: tuple[str, ...] = (
    "policy",
    "stage",
    "stage_start",
    "history",
    "last_step",
    "last_rollback",
    "rollback_count",
    "interval_scale",
    "probation",
)
PROBATION_KEYS: tuple[str, ...] = ("p_before", "evaluations")


def new_state(policy: str, stage: int = 0) -> dict[str, Any]:
    """The state at the start of a run."""
    return {
        "policy": policy,
        "stage": stage,
        "stage_start": 0,
        "history": [],
        "last_step": None,
        "last_rollback": None,
        "rollback_count": 0,
        "interval_scale": 1.0,
        "probation": None,
    }


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def checked_copy(state: Mapping[str, Any], policy: str, n_stages: int) -> dict[str, Any]:
    """A deep copy of ``state`` after validating it (every problem at once, as a ValueError).

    A state restored from a checkpoint of another policy or another stage schedule is refused here
    rather than silently reinterpreted.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"invalid curriculum state: must be a dict (got {type(state).__name__})")
    problems: list[str] = []
    missing = [k for k in STATE_KEYS if k not in state]
    unknown = [k for k in state if k not in STATE_KEYS]
    if missing:
        problems.append(f"missing keys {missing}")
    if unknown:
        problems.append(f"unknown keys {unknown}")
    if not problems:
        if state["policy"] != policy:
            problems.append(f"policy: the state belongs to policy {state['policy']!r}, not {policy!r}")
        if not (_int(state["stage"]) and 0 <= state["stage"] < n_stages):
            problems.append(f"stage: must be an index in [0, {n_stages - 1}] (got {state['stage']!r})")
        for key in ("stage_start", "rollback_count"):
            if not (_int(state[key]) and state[key] >= 0):
                problems.append(f"{key}: must be an integer >= 0 (got {state[key]!r})")
        for key in ("last_step", "last_rollback"):
            if state[key] is not None and not (_int(state[key]) and state[key] >= 0):
                problems.append(f"{key}: must be an integer >= 0 or None (got {state[key]!r})")
        if not (_num(state["interval_scale"]) and state["interval_scale"] >= 1.0):
            problems.append(f"interval_scale: must be a number >= 1 (got {state['interval_scale']!r})")
        history = state["history"]
        if not (isinstance(history, (list, tuple)) and all(_num(v) for v in history)):
            problems.append(f"history: must be a list of numbers (got {history!r})")
        probation = state["probation"]
        if probation is not None and not (
            isinstance(probation, Mapping)
            and sorted(probation) == sorted(PROBATION_KEYS)
            and _num(probation["p_before"])
            and _int(probation["evaluations"])
            and probation["evaluations"] >= 0
        ):
            problems.append(f"probation: must be None or a dict with keys {list(PROBATION_KEYS)} (got {probation!r})")
    if problems:
        raise ValueError("invalid curriculum state: " + "; ".join(problems))
    out = dict(state)
    out["history"] = [float(v) for v in state["history"]]
    out["interval_scale"] = float(state["interval_scale"])
    out["probation"] = dict(state["probation"]) if state["probation"] is not None else None
    return out


def check_step(state: Mapping[str, Any], step: int) -> None:
    """Evaluations must come in strictly increasing step order, never before the stage started."""
    last = state["last_step"]
    if last is not None and step <= last:
        raise ValueError(f"evaluation step {step} is not after the previous evaluation (step {last})")
    if step < state["stage_start"]:
        raise ValueError(f"evaluation step {step} is before the current stage started (step {state['stage_start']})")
