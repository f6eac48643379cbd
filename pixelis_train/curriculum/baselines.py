"""Baseline policies for honest A/B runs (docs/design.md §6): ``fixed``, ``none``, ``shuffled``, ``anti``.

All take the same evaluations as the adaptive policy (and validate them the same way, so the logs
of an A/B pair are comparable), but their decisions never depend on the performance values.
``shuffled`` is ``fixed`` on training labels permuted per sample (the stream does that, see
:func:`pixelis_train.curriculum.policy.shuffles_labels`): the pacing of a curriculum without its
ordering, the baseline "When Do Curricula Work?" (Wu et al., ICLR 2021) found most gains vanish against.
``anti`` is ``fixed`` on the stages in reverse order (hard first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from pixelis_train.curriculum.config import CurriculumConfig, StageConfig
from pixelis_train.curriculum.events import Evaluation, Event, stage_performance
from pixelis_train.curriculum.state import check_step, checked_copy, new_state

STATIC_STAGE_NAME = "static"


def anti_stages(stages: tuple[StageConfig, ...]) -> tuple[StageConfig, ...]:
    """The schedule hard first: stage i trains the weights (and carries the name) of stage n-1-i for
    the planned steps of stage i, so the pacing is the planned one and only the order is reversed."""
    n = len(stages)
    return tuple(
        StageConfig(stages[n - 1 - i].name, stages[i].steps, dict(stages[n - 1 - i].weights)) for i in range(n)
    )


@dataclass(frozen=True)
class FixedPolicy:
    """Advance on the planned steps only: at the first evaluation with steps in stage >= planned steps.

    No rollbacks, no cooldown, interval scale stays 1; ``max_stage_steps`` cannot matter (it is at
    least the longest planned stage).
    """

    cfg: CurriculumConfig
    name: ClassVar[str] = "fixed"

    @property
    def stages(self) -> tuple[StageConfig, ...]:
        """The schedule this policy walks through (the configured one)."""
        return self.cfg.stages

    def initial_state(self) -> dict[str, Any]:
        """State at step 0: first stage."""
        return new_state(self.name)

    def weights(self, state: Mapping[str, Any]) -> dict[str, float]:
        """Category mixture of the stage in force."""
        return dict(self.stages[checked_copy(state, self.name, len(self.stages))["stage"]].weights)

    def stage_name(self, state: Mapping[str, Any]) -> str:
        """Name of the stage in force."""
        return self.stages[checked_copy(state, self.name, len(self.stages))["stage"]].name

    def decide(self, state: Mapping[str, Any], evaluation: Evaluation) -> tuple[dict[str, Any], Event]:
        """Advance when the planned steps of the stage are done; otherwise hold."""
        stages = self.stages
        s = checked_copy(state, self.name, len(stages))
        check_step(s, evaluation.step)
        t, i = evaluation.step, s["stage"]
        p = stage_performance(stages[i].weights, evaluation.performance)
        s["last_step"] = t
        in_stage = t - s["stage_start"]
        planned = stages[i].steps
        numbers: dict[str, Any] = {"performance": round(p, 6), "steps_in_stage": in_stage, "planned_steps": planned}
        kind = "hold"
        if planned is None:
            reason = f"final stage {stages[i].name}: trains until the end"
        elif in_stage < planned:
            reason = f"hold in {stages[i].name}: {in_stage} of {planned} planned steps done"
        else:
            kind = "advance"
            s.update(stage=i + 1, stage_start=t)
            reason = f"advance from {stages[i].name} to {stages[i + 1].name}: {in_stage} >= {planned} planned steps"
        event = Event(
            kind=kind,
            step=t,
            stage_before=i,
            stage_after=s["stage"],
            stage_name=stages[s["stage"]].name,
            reason=reason,
            numbers=numbers,
            rollback_count=0,
            interval_scale=1.0,
            performance=p,
        )
        return s, event


@dataclass(frozen=True)
class ShuffledPolicy(FixedPolicy):
    """``fixed``'s stages, pacing and weights, trained on randomly permuted category labels.

    The decisions are exactly ``fixed``'s; what differs is which samples a category label stands for,
    and that is the stream's business (``StreamConfig.shuffle_labels``, set from this policy).
    """

    name: ClassVar[str] = "shuffled"


@dataclass(frozen=True)
class AntiPolicy(FixedPolicy):
    """``fixed`` on the reversed schedule (:func:`anti_stages`): hard first, the planned pacing."""

    name: ClassVar[str] = "anti"

    @cached_property
    def stages(self) -> tuple[StageConfig, ...]:  # type: ignore[override]
        """The configured stages in reverse order, each for the planned steps of its position."""
        return anti_stages(self.cfg.stages)


@dataclass(frozen=True)
class NonePolicy:
    """One static mixture for the whole run (``static_weights``; null = proportional to the category
    sizes, which the training run resolves from the split: ``CurriculumConfig.with_category_sizes``).

    Its schedule has one stage, index 0, named 'static'; every decision is a hold.
    """

    cfg: CurriculumConfig
    name: ClassVar[str] = "none"

    def initial_state(self) -> dict[str, Any]:
        """The only state there is, apart from the step of the last evaluation."""
        return new_state(self.name)

    def weights(self, state: Mapping[str, Any]) -> dict[str, float]:
        """The static mixture."""
        checked_copy(state, self.name, 1)
        return self.cfg.resolved_static_weights()

    def stage_name(self, state: Mapping[str, Any]) -> str:
        """Always 'static'."""
        checked_copy(state, self.name, 1)
        return STATIC_STAGE_NAME

    def decide(self, state: Mapping[str, Any], evaluation: Evaluation) -> tuple[dict[str, Any], Event]:
        """Always hold (the performance is recorded in the event for the log)."""
        s = checked_copy(state, self.name, 1)
        check_step(s, evaluation.step)
        p = stage_performance(self.cfg.resolved_static_weights(), evaluation.performance)
        s["last_step"] = evaluation.step
        event = Event(
            kind="hold",
            step=evaluation.step,
            stage_before=0,
            stage_after=0,
            stage_name=STATIC_STAGE_NAME,
            reason="static mixture (policy 'none'): weights never change",
            numbers={"performance": round(p, 6), "steps": evaluation.step},
            performance=p,
        )
        return s, event
