"""Curriculum configuration (DESIGN §6): the stage schedule and the policy parameters.

``configs/curriculum.yaml`` has exactly this shape and holds the defaults below. Torch-free: the
policy and ``pixelis curriculum simulate`` run with only the data-side dependencies installed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pixelis_core.config_io import Problems
from pixelis_data.schema import CATEGORIES

WEIGHT_TOLERANCE = 1e-6
"""How far a stage's weights may sum away from 1 (YAML decimals such as 0.7 + 0.3 are not exact)."""

POLICIES: tuple[str, ...] = ("adaptive", "fixed", "none")
CURRICULUM_METRICS: tuple[str, ...] = ("token_accuracy", "exp_neg_loss", "action_accuracy")


def weight_problems(path: str, weights: Mapping[str, float]) -> list[str]:
    """Every problem of a category mixture: unknown categories, bad values, a sum that is not 1."""
    problems: list[str] = []
    if not isinstance(weights, Mapping):
        return [f"{path}: must be a mapping of category -> weight (got {weights!r})"]
    for key, value in weights.items():
        if key not in CATEGORIES:
            problems.append(f"{path}.{key}: unknown category (known: {', '.join(CATEGORIES)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            problems.append(f"{path}.{key}: must be a finite number >= 0 (got {value!r})")
    if not problems:
        total = sum(float(v) for v in weights.values())
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            problems.append(f"{path}: weights must sum to 1 (got {total:.6g} from {dict(weights)})")
    return problems


def _complete(weights: Mapping[str, float]) -> dict[str, float]:
    """All categories in CATEGORIES order, a missing one as 0.0 (the stream reads every category)."""
    return {c: float(weights.get(c, 0.0)) for c in CATEGORIES}


@dataclass(frozen=True)
class StageConfig:
    """One curriculum stage: a category mixture trained for a planned number of optimizer steps."""

    name: str
    """Stage name shown in logs and reports (unique within the schedule)."""
    steps: int | None
    """Planned optimizer steps in this stage before an advance is considered; null for the last stage."""
    weights: dict[str, float]
    """Category -> share of each batch (simple / medium / hard; a missing category is 0; sums to 1)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(isinstance(self.name, str) and bool(self.name.strip()), f"name: must not be empty (got {self.name!r})")
        p.check(
            self.steps is None
            or (not isinstance(self.steps, bool) and isinstance(self.steps, int) and self.steps >= 1),
            f"steps: must be an integer >= 1 or null (got {self.steps!r})",
        )
        for problem in weight_problems("weights", self.weights):
            p.add(problem)
        p.raise_if_any()
        object.__setattr__(self, "weights", _complete(self.weights))


def default_stages() -> tuple[StageConfig, ...]:
    """The schedule of DESIGN §6 (the original project's defaults)."""
    table = (
        ("simple", 2000, (1.0, 0.0, 0.0)),
        ("simple_medium", 2000, (0.7, 0.3, 0.0)),
        ("balanced", 2000, (0.4, 0.4, 0.2)),
        ("medium_hard", 2000, (0.2, 0.4, 0.4)),
        ("full", None, (0.2, 0.3, 0.5)),
    )
    return tuple(StageConfig(name, steps, dict(zip(CATEGORIES, w, strict=True))) for name, steps, w in table)


@dataclass(frozen=True)
class CurriculumConfig:
    """Stage schedule and decision rules of the curriculum policy (DESIGN §6; docs/curriculum.md)."""

    policy: Literal["adaptive", "fixed", "none"] = "adaptive"
    """'adaptive': advance / roll back on performance; 'fixed': advance on the planned steps only;
    'none': one static mixture (``static_weights``) for the whole run."""
    stages: tuple[StageConfig, ...] = field(default_factory=default_stages)
    """The stages in order; every stage but the last has planned steps, the last runs until the end."""
    eval_interval: int = 500
    """Optimizer steps between evaluations; each evaluation is one policy decision."""
    min_performance: float = 0.6
    """An advance needs the mean of the last ``window`` stage performances to reach this."""
    rollback_threshold: float = -0.05
    """Roll back when performance after an advance minus p_before (old mixture) falls below this (<= 0)."""
    cooldown_steps: int = 1000
    """Steps after a rollback during which no (unforced) advance happens."""
    interval_backoff: float = 2.0
    """Each rollback multiplies the interval scale (planned steps of every stage) by this factor."""
    window: int = 3
    """Evaluations averaged for the advance test, and evaluations after an advance that are checked."""
    max_stage_steps: int | None = None
    """Force an advance after this many steps in a stage, whatever the performance (null: never)."""
    metric: Literal["token_accuracy", "exp_neg_loss", "action_accuracy"] = "token_accuracy"
    """Per-category metric fed to the policy (all three lie in [0, 1], higher is better)."""
    static_weights: dict[str, float] | None = None
    """Mixture of the 'none' policy; null means the last stage's weights (the full mixture)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.policy in POLICIES, f"policy: must be one of {', '.join(POLICIES)} (got {self.policy!r})")
        p.check(
            self.metric in CURRICULUM_METRICS,
            f"metric: must be one of {', '.join(CURRICULUM_METRICS)} (got {self.metric!r})",
        )
        self._check_stages(p)
        p.check(
            _is_int(self.eval_interval) and self.eval_interval >= 1,
            f"eval_interval: must be an integer >= 1 (got {self.eval_interval!r})",
        )
        p.check(
            _is_num(self.min_performance) and 0.0 <= self.min_performance <= 1.0,
            f"min_performance: must be in [0, 1] (got {self.min_performance!r})",
        )
        p.check(
            _is_num(self.rollback_threshold) and -1.0 <= self.rollback_threshold <= 0.0,
            f"rollback_threshold: must be in [-1, 0] (a tolerated drop, got {self.rollback_threshold!r})",
        )
        p.check(
            _is_int(self.cooldown_steps) and self.cooldown_steps >= 0,
            f"cooldown_steps: must be an integer >= 0 (got {self.cooldown_steps!r})",
        )
        p.check(
            _is_num(self.interval_backoff) and 1.0 <= self.interval_backoff <= 100.0,
            f"interval_backoff: must be in [1, 100] (got {self.interval_backoff!r})",
        )
        p.check(_is_int(self.window) and self.window >= 1, f"window: must be an integer >= 1 (got {self.window!r})")
        if self.max_stage_steps is not None:
            planned = [s.steps for s in self.stages if isinstance(s, StageConfig) and _is_int(s.steps)]
            longest = max(planned, default=1)
            p.check(
                _is_int(self.max_stage_steps) and self.max_stage_steps >= longest,
                f"max_stage_steps: must be an integer >= the longest planned stage ({longest} steps) "
                f"or null (got {self.max_stage_steps!r})",
            )
        if self.static_weights is not None:
            for problem in weight_problems("static_weights", self.static_weights):
                p.add(problem)
        p.raise_if_any()
        if self.static_weights is not None:
            object.__setattr__(self, "static_weights", _complete(self.static_weights))

    def _check_stages(self, p: Problems) -> None:
        if not isinstance(self.stages, tuple) or not self.stages:
            p.add(f"stages: must be a non-empty list of stages (got {self.stages!r})")
            return
        seen: set[str] = set()
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            if not isinstance(stage, StageConfig):
                p.add(f"stages[{i}]: must be a stage with name, steps and weights (got {stage!r})")
                continue
            p.check(stage.name not in seen, f"stages[{i}].name: duplicate stage name (got {stage.name!r})")
            seen.add(stage.name)
            if i < last:
                p.check(
                    stage.steps is not None,
                    f"stages[{i}].steps: only the last stage may run until the end (got null for {stage.name!r})",
                )
            else:
                p.check(
                    stage.steps is None,
                    f"stages[{i}].steps: the last stage runs until the end, so must be null (got {stage.steps!r})",
                )

    def resolved_static_weights(self) -> dict[str, float]:
        """The mixture of the 'none' policy: ``static_weights`` or the last stage's weights."""
        return dict(self.static_weights if self.static_weights is not None else self.stages[-1].weights)

    def planned_total_steps(self) -> int:
        """Sum of the planned steps of every stage but the last (when the last stage starts at best)."""
        return sum(s.steps or 0 for s in self.stages)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
