"""The curriculum policy interface: a pure state machine, state + evaluation -> new state + event.

The training loop calls, once per evaluation (every ``eval_interval`` optimizer steps)::

    state, event = policy.decide(state, Evaluation(step, per_category_performance))
    weights = policy.weights(state)        # the stream applies them from step + 1
    log(event.metrics())

and stores ``state`` (a small JSON-serialisable dict) in every checkpoint; ``decide`` on a restored
state continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from pixelis_train.curriculum.adaptive import AdaptivePolicy
from pixelis_train.curriculum.baselines import AntiPolicy, FixedPolicy, NonePolicy, ShuffledPolicy, anti_stages
from pixelis_train.curriculum.config import POLICIES, CurriculumConfig
from pixelis_train.curriculum.events import EVENT_KINDS, Evaluation, Event, EventKind, stage_performance

__all__ = [
    "EVENT_KINDS",
    "AdaptivePolicy",
    "AntiPolicy",
    "CurriculumPolicy",
    "Evaluation",
    "Event",
    "EventKind",
    "FixedPolicy",
    "NonePolicy",
    "ShuffledPolicy",
    "make_policy",
    "schedule_weights",
    "shuffles_labels",
    "stage_performance",
]


@runtime_checkable
class CurriculumPolicy(Protocol):
    """What the training loop and the simulator need from a curriculum policy."""

    name: str

    def initial_state(self) -> dict[str, Any]:
        """State at the start of a run."""
        ...

    def decide(self, state: Mapping[str, Any], evaluation: Evaluation) -> tuple[dict[str, Any], Event]:
        """New state and the event of this evaluation; does not mutate ``state``."""
        ...

    def weights(self, state: Mapping[str, Any]) -> dict[str, float]:
        """Category mixture (every category of CATEGORIES, summing to 1) in force in ``state``."""
        ...

    def stage_name(self, state: Mapping[str, Any]) -> str:
        """Name of the stage in force in ``state``."""
        ...


_POLICY_CLASSES: dict[str, type] = {
    "adaptive": AdaptivePolicy,
    "fixed": FixedPolicy,
    "none": NonePolicy,
    "shuffled": ShuffledPolicy,
    "anti": AntiPolicy,
}


def make_policy(cfg: CurriculumConfig) -> CurriculumPolicy:
    """The policy named by ``cfg.policy``."""
    cls = _POLICY_CLASSES.get(cfg.policy)
    if cls is None:
        raise ValueError(f"policy: unknown curriculum policy {cfg.policy!r} (known: {', '.join(POLICIES)})")
    return cls(cfg)


def shuffles_labels(cfg: CurriculumConfig) -> bool:
    """Whether the policy trains on permuted category labels (the stream option the run sets from it)."""
    return cfg.policy == "shuffled"


def schedule_weights(cfg: CurriculumConfig) -> dict[int, dict[str, float]]:
    """The category mixture of each stage index of the policy's schedule (what a segment of it trains on).

    For 'none' the static mixture of ``cfg`` as given (resolve the split's sizes first with
    ``cfg.with_category_sizes``); for 'anti' the reversed schedule.
    """
    if cfg.policy == "none":
        return {0: cfg.resolved_static_weights()}
    stages = anti_stages(cfg.stages) if cfg.policy == "anti" else cfg.stages
    return {i: dict(stage.weights) for i, stage in enumerate(stages)}
