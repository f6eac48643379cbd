"""What a curriculum policy consumes (an :class:`Evaluation`) and produces (an :class:`Event`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pixelis_data.schema import CATEGORIES

EventKind = Literal["hold", "advance", "rollback", "forced_advance"]
EVENT_KINDS: tuple[str, ...] = ("hold", "advance", "rollback", "forced_advance")


@dataclass(frozen=True)
class Evaluation:
    """Per-category performance measured on the held-out eval set after ``step`` optimizer steps."""

    step: int
    """Optimizer steps done when the evaluation was taken (strictly increasing from one call to the next)."""
    performance: Mapping[str, float]
    """Category -> metric value in [0, 1] (higher is better); stored as a dict of Python floats."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if isinstance(self.step, bool) or not isinstance(self.step, numbers.Integral) or self.step < 0:
            problems.append(f"step: must be an integer >= 0 (got {self.step!r})")
        if not isinstance(self.performance, Mapping):
            problems.append(f"performance: must be a mapping of category -> value (got {self.performance!r})")
        else:
            for key, value in self.performance.items():
                if key not in CATEGORIES:
                    problems.append(f"performance.{key}: unknown category (known: {', '.join(CATEGORIES)})")
                if (
                    isinstance(value, bool)
                    or not isinstance(value, numbers.Real)
                    or not math.isfinite(value)
                    or not 0.0 <= value <= 1.0
                ):
                    problems.append(f"performance.{key}: must be a number in [0, 1] (got {value!r})")
        if problems:
            raise ValueError("invalid evaluation: " + "; ".join(problems))
        # numpy scalars (e.g. float32 metrics) become plain numbers so that states and events stay JSON-ready
        object.__setattr__(self, "step", int(self.step))
        object.__setattr__(self, "performance", {k: float(v) for k, v in self.performance.items()})


def stage_performance(weights: Mapping[str, float], performance: Mapping[str, float]) -> float:
    """Stage-weighted mean of per-category performance (categories of weight 0 are not needed).

    Because it only re-weights per-category numbers, the performance of the *next* stage's mixture
    at the same evaluation costs no extra forward pass (docs/design.md §6).
    """
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        raise ValueError(f"stage weights have no positive entry (got {dict(weights)})")
    missing = [c for c, w in weights.items() if w > 0 and c not in performance]
    if missing:
        raise ValueError(
            f"the evaluation has no performance for categor{'y' if len(missing) == 1 else 'ies'} "
            f"{', '.join(missing)}, which the stage weights use (weights {dict(weights)}, "
            f"got performance for {', '.join(performance) or 'nothing'})"
        )
    return sum(w * float(performance[c]) for c, w in weights.items() if w > 0) / total


@dataclass(frozen=True)
class Event:
    """One policy decision: what happened at an evaluation, why, and the numbers that decided it."""

    kind: EventKind
    """'hold', 'advance', 'rollback' or 'forced_advance'."""
    step: int
    """Step of the evaluation that led to this decision; new weights apply from ``step + 1``."""
    stage_before: int
    """Stage index in force when the evaluation was taken."""
    stage_after: int
    """Stage index in force after the decision (equal to ``stage_before`` for a hold, and for a
    rollback that rejected an advance at the same evaluation)."""
    stage_name: str
    """Name of ``stage_after``."""
    reason: str
    """One human sentence explaining the decision."""
    numbers: dict[str, Any] = field(default_factory=dict)
    """The values that decided it (performances, thresholds, step counts); JSON-serialisable."""
    rollback_count: int = 0
    """Rollbacks so far, this one included."""
    interval_scale: float = 1.0
    """Interval scale after the decision."""
    performance: float | None = None
    """Stage performance (weights of ``stage_before``) at this evaluation; None if not computed."""
    performance_drop: float = 0.0
    """p_before minus the performance compared with it (positive = worse) while an advance is being
    checked; 0.0 when no advance is being checked."""

    def metrics(self) -> dict[str, Any]:
        """The training-log view of this decision (the keys metrics.jsonl / wandb / TensorBoard use)."""
        return {
            "curriculum/stage": self.stage_after,
            "curriculum/stage_name": self.stage_name,
            "curriculum/event": self.kind,
            "curriculum/performance_drop": self.performance_drop,
            "curriculum/rollback_count": self.rollback_count,
            "curriculum/interval_scale": self.interval_scale,
            "curriculum/performance": self.performance,
        }

    def to_json(self) -> dict[str, Any]:
        """A plain dict of every field (JSON-ready)."""
        return {
            "kind": self.kind,
            "step": self.step,
            "stage_before": self.stage_before,
            "stage_after": self.stage_after,
            "stage_name": self.stage_name,
            "reason": self.reason,
            "numbers": dict(self.numbers),
            "rollback_count": self.rollback_count,
            "interval_scale": self.interval_scale,
            "performance": self.performance,
            "performance_drop": self.performance_drop,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """Inverse of :meth:`to_json`."""
        return cls(**{**data, "numbers": dict(data["numbers"])})


def is_rejected_advance(event: Event) -> bool:
    """A 'rollback' event that undid an advance at the same evaluation: the stage stayed as it was."""
    return event.kind == "rollback" and event.stage_before == event.stage_after


def event_label(event: Event) -> tuple[str, str]:
    """(what happened, the stage change) in words: 'rejected advance', '0 stays (1 rejected)' / 'advance', '0->1'."""
    if is_rejected_advance(event):
        tried = event.numbers.get("attempted_stage", event.stage_before + 1)
        return "rejected advance", f"{event.stage_before} stays ({tried} rejected)"
    return event.kind.replace("_", " "), f"{event.stage_before}->{event.stage_after}"
