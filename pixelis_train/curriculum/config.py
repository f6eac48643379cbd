"""Curriculum configuration (docs/design.md §6): the stage schedule and the policy parameters.

``configs/curriculum.yaml`` has exactly this shape and holds the defaults below. Torch-free: the
policy and ``pixelis curriculum simulate`` run with only the data-side dependencies installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from pixelis_core.config_io import Problems, is_int, is_number
from pixelis_data.schema import CATEGORIES

WEIGHT_TOLERANCE = 1e-6
"""How far a stage's weights may sum away from 1 (YAML decimals such as 0.7 + 0.3 are not exact)."""

Policy = Literal["adaptive", "fixed", "none", "shuffled", "anti"]
"""The curriculum policies (docs/curriculum.md); all but ``adaptive`` are baselines for A/B runs."""
CurriculumMetric = Literal["token_accuracy", "exp_neg_loss", "action_accuracy"]
"""Per-category metrics the policy can read (each in [0, 1], higher is better)."""
POLICIES: tuple[str, ...] = get_args(Policy)
CURRICULUM_METRICS: tuple[str, ...] = get_args(CurriculumMetric)


def check_mixture(p: Problems, path: str, weights: object) -> bool:
    """Every problem of a category mixture: unknown categories, bad values, a sum that is not 1."""
    return p.non_negative_table(path, weights, known=CATEGORIES, what="category", total=1.0, tolerance=WEIGHT_TOLERANCE)


def proportional_weights(sizes: Mapping[str, int]) -> dict[str, float]:
    """Category shares proportional to ``sizes`` (every category of CATEGORIES; a missing one is 0)."""
    total = sum(int(sizes.get(c, 0)) for c in CATEGORIES)
    if total <= 0:
        raise ValueError(f"category sizes: no training rows to mix (got {dict(sizes)})")
    return {c: int(sizes.get(c, 0)) / total for c in CATEGORIES}


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
        p.integer("steps", self.steps, 1, optional=True)
        check_mixture(p, "weights", self.weights)
        p.raise_if_any()
        object.__setattr__(self, "weights", _complete(self.weights))


def default_stages() -> tuple[StageConfig, ...]:
    """The schedule of docs/design.md §6 (the original project's defaults)."""
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
    """Stage schedule and decision rules of the curriculum policy (docs/design.md §6; docs/curriculum.md)."""

    policy: Policy = "adaptive"
    """'adaptive': advance / roll back on performance; 'fixed': advance on the planned steps only;
    'none': one static mixture (``static_weights``) for the whole run; 'shuffled': 'fixed' on randomly
    permuted training labels; 'anti': the stages in reverse order (hard first) on the planned pacing."""
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
    metric: CurriculumMetric = "token_accuracy"
    """Per-category metric fed to the policy (all three lie in [0, 1], higher is better)."""
    static_weights: dict[str, float] | None = None
    """Mixture of the 'none' policy; null means proportional to the split's category sizes (plain training)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.literals(self)
        self._check_stages(p)
        p.integer("eval_interval", self.eval_interval, 1)
        p.number("min_performance", self.min_performance, 0, 1)
        p.check(
            is_number(self.rollback_threshold) and -1.0 <= self.rollback_threshold <= 0.0,
            f"rollback_threshold: must be in [-1, 0] (a tolerated drop, got {self.rollback_threshold!r})",
        )
        p.integer("cooldown_steps", self.cooldown_steps, 0)
        p.number("interval_backoff", self.interval_backoff, 1, 100)
        p.integer("window", self.window, 1)
        if self.max_stage_steps is not None:
            planned = [s.steps for s in self.stages if isinstance(s, StageConfig) and is_int(s.steps)]
            longest = max(planned, default=1)
            p.check(
                is_int(self.max_stage_steps) and self.max_stage_steps >= longest,
                f"max_stage_steps: must be an integer >= the longest planned stage ({longest} steps) "
                f"or null (got {self.max_stage_steps!r})",
            )
        if self.static_weights is not None:
            check_mixture(p, "static_weights", self.static_weights)
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

    def resolved_static_weights(self, category_sizes: Mapping[str, int] | None = None) -> dict[str, float]:
        """The mixture of the 'none' policy: ``static_weights``, else proportional to ``category_sizes``
        (drawable training rows per category; None: equal sizes, e.g. in the simulator)."""
        if self.static_weights is not None:
            return dict(self.static_weights)
        return proportional_weights(category_sizes if category_sizes is not None else dict.fromkeys(CATEGORIES, 1))

    def with_category_sizes(self, category_sizes: Mapping[str, int]) -> CurriculumConfig:
        """This config with the split-dependent default resolved: the 'none' policy with
        ``static_weights`` null gets the mixture proportional to ``category_sizes``."""
        if self.policy != "none" or self.static_weights is not None:
            return self
        return replace(self, static_weights=proportional_weights(category_sizes))

    def planned_total_steps(self) -> int:
        """Sum of the planned steps of every stage but the last (when the last stage starts at best)."""
        return sum(s.steps or 0 for s in self.stages)
