"""Baseline policies for honest A/B runs (docs/design.md §6): ``fixed`` and ``none``.

Both take the same evaluations as the adaptive policy (and validate them the same way, so the logs
of an A/B pair are comparable), but their decisions never depend on the performance values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.curriculum.events import Evaluation, Event, stage_performance
from pixelis_train.curriculum.state import check_step, checked_copy, new_state

STATIC_STAGE_NAME = "static"


@dataclass(frozen=True)
class FixedPolicy:
    """Advance on the planned steps only: at the first evaluation with steps in stage >= planned steps.

    No rollbacks, no cooldown, interval scale stays 1; ``max_stage_steps`` cannot matter (it is at
    least the longest planned stage).
    """

    cfg: CurriculumConfig
    name: ClassVar[str] = "fixed"

    def initial_state(self) -> dict[str, Any]:
        """State at step 0: first stage."""
        return new_state(self.name)

    def weights(self, state: Mapping[str, Any]) -> dict[str, float]:
        """Category mixture of the stage in force."""
        return dict(self.cfg.stages[checked_copy(state, self.name, len(self.cfg.stages))["stage"]].weights)

    def stage_name(self, state: Mapping[str, Any]) -> str:
        """Name of the stage in force."""
        return self.cfg.stages[checked_copy(state, self.name, len(self.cfg.stages))["stage"]].name

    def decide(self, state: Mapping[str, Any], evaluation: Evaluation) -> tuple[dict[str, Any], Event]:
        """Advance when the planned steps of the stage are done; otherwise hold."""
        stages = self.cfg.stages
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
class NonePolicy:
    """One static mixture for the whole run (``static_weights``, else the last stage's weights).

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
