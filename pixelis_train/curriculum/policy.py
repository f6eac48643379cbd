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
from pixelis_train.curriculum.baselines import FixedPolicy, NonePolicy
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.curriculum.events import EVENT_KINDS, Evaluation, Event, EventKind, stage_performance

__all__ = [
    "EVENT_KINDS",
    "AdaptivePolicy",
    "CurriculumPolicy",
    "Evaluation",
    "Event",
    "EventKind",
    "FixedPolicy",
    "NonePolicy",
    "make_policy",
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


def make_policy(cfg: CurriculumConfig) -> CurriculumPolicy:
    """The policy named by ``cfg.policy``."""
    if cfg.policy == "adaptive":
        return AdaptivePolicy(cfg)
    if cfg.policy == "fixed":
        return FixedPolicy(cfg)
    if cfg.policy == "none":
        return NonePolicy(cfg)
    raise ValueError(f"policy: unknown curriculum policy {cfg.policy!r} (known: adaptive, fixed, none)")
