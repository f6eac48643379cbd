"""The adaptive curriculum policy of docs/design.md §6: advance on performance, roll back on a drop.

At each evaluation (step t, per-category performance), with i the stage in force and p its
stage-weighted performance:

1. Probation. For the first ``window`` evaluations after an unforced advance, p (new mixture) is
   compared with p_before, the old stage's performance at the evaluation that advanced. If
   p < p_before + rollback_threshold: roll back.
2. Otherwise p joins the stage's history. In the last stage the policy holds.
3. Forced advance: if ``max_stage_steps`` is set and t - stage_start >= max_stage_steps, advance
   whatever the performance, the cooldown or the dwell; no probation follows (the user asked for a
   hard bound on the time in a stage, so it must not be undone).
4. Advance when all hold: t - stage_start >= planned steps x interval_scale (the dwell); no rollback
   in the last cooldown_steps (t - last_rollback >= cooldown_steps, whichever stage rolled back,
   so the cooldown also blocks the retry from the stage below); at least ``window`` evaluations in
   this stage and the mean of the last ``window`` >= min_performance.
5. Right at the advance, p_after = the same evaluation under the next stage's weights (no extra
   forward pass). If p_after - p_before < rollback_threshold the advance is rolled straight back:
   the event is a rollback with stage_before == stage_after and the stream never sees the new mixture.
6. A rollback (steps 1 or 5): stage - 1 (step 1) or stays (step 5), rollback_count + 1,
   interval_scale x interval_backoff (for every later stage too: it is never reset), the cooldown
   starts at t, and the stage restarts at t (empty history), so the retry comes after the scaled dwell.

Comparisons allow 1e-9 of float rounding (a mean of three 0.6 is 0.6). An evaluation at step 0 is
an ordinary evaluation: it can only hold, because every dwell is at least one step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.curriculum.events import Evaluation, Event, stage_performance
from pixelis_train.curriculum.state import check_step, checked_copy, new_state

EPS = 1e-9


def _r(x: float) -> float:
    """Rounded for reasons and numbers only (decisions use the exact values)."""
    return round(x, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class AdaptivePolicy:
    """docs/design.md §6 adaptive policy; pure: ``decide`` never mutates the state it is given."""

    cfg: CurriculumConfig
    name: ClassVar[str] = "adaptive"

    def initial_state(self) -> dict[str, Any]:
        """State at step 0: first stage, no history, interval scale 1."""
        return new_state(self.name)

    def weights(self, state: Mapping[str, Any]) -> dict[str, float]:
        """Category mixture of the stage in force."""
        s = checked_copy(state, self.name, len(self.cfg.stages))
        return dict(self.cfg.stages[s["stage"]].weights)

    def stage_name(self, state: Mapping[str, Any]) -> str:
        """Name of the stage in force."""
        return self.cfg.stages[checked_copy(state, self.name, len(self.cfg.stages))["stage"]].name

    def decide(self, state: Mapping[str, Any], evaluation: Evaluation) -> tuple[dict[str, Any], Event]:
        """New state and the event of this evaluation (see the module docstring for the rules)."""
        cfg = self.cfg
        s = checked_copy(state, self.name, len(cfg.stages))
        check_step(s, evaluation.step)
        t = evaluation.step
        i = s["stage"]
        stage = cfg.stages[i]
        p = stage_performance(stage.weights, evaluation.performance)
        s["last_step"] = t
        in_stage = t - s["stage_start"]
        numbers: dict[str, Any] = {"performance": _r(p), "steps_in_stage": in_stage}

        probation = s["probation"]
        drop = 0.0
        if probation is not None:
            probation["evaluations"] += 1
            p_before = probation["p_before"]
            limit = p_before + cfg.rollback_threshold
            drop = p_before - p
            numbers.update(
                p_before=_r(p_before),
                threshold=cfg.rollback_threshold,
                limit=_r(limit),
                performance_drop=_r(drop),
                check=f"{probation['evaluations']}/{cfg.window}",
            )
            if p < limit - EPS:
                prev = cfg.stages[i - 1]
                reason = (
                    f"performance {p:.3f} on {stage.name} fell below p_before {p_before:.3f} "
                    f"{cfg.rollback_threshold:+.3f} = {limit:.3f} at evaluation "
                    f"{probation['evaluations']} of {cfg.window} after the advance; back to {prev.name}"
                )
                return self._rollback(s, t, i, i - 1, reason, numbers, p, drop)
            if probation["evaluations"] >= cfg.window:
                s["probation"] = None
        s["history"] = [*s["history"], p][-cfg.window :]

        if i == len(cfg.stages) - 1:
            return s, self._event(s, "hold", t, i, f"final stage {stage.name}: trains until the end", numbers, p, drop)

        nxt = cfg.stages[i + 1]
        if cfg.max_stage_steps is not None and in_stage >= cfg.max_stage_steps:
            numbers.update(max_stage_steps=cfg.max_stage_steps)
            self._enter(s, i + 1, t)
            reason = (
                f"forced advance from {stage.name} to {nxt.name}: {in_stage} steps in the stage "
                f">= max_stage_steps {cfg.max_stage_steps} (performance {p:.3f})"
            )
            return s, self._event(s, "forced_advance", t, i, reason, numbers, p, drop)

        if stage.steps is None:  # unreachable: config validation gives only the last stage steps None
            raise RuntimeError(f"stage {stage.name!r} has no planned steps but is not the last stage")
        dwell = stage.steps * s["interval_scale"]
        cooldown_end = None if s["last_rollback"] is None else s["last_rollback"] + cfg.cooldown_steps
        history = s["history"]
        mean = math.fsum(history[-cfg.window :]) / cfg.window if len(history) >= cfg.window else None
        numbers.update(
            dwell=_r(dwell),
            interval_scale=s["interval_scale"],
            window_mean=None if mean is None else _r(mean),
            min_performance=cfg.min_performance,
            cooldown_until=cooldown_end,
        )
        unmet = []
        if in_stage < dwell:
            unmet.append(f"{in_stage} of {dwell:g} steps done")
        if cooldown_end is not None and t < cooldown_end:
            unmet.append(f"cooldown until step {cooldown_end}")
        if mean is None:
            unmet.append(f"{len(history)} of {cfg.window} evaluations in this stage")
        elif mean < cfg.min_performance - EPS:
            unmet.append(f"mean of last {cfg.window} performances {mean:.3f} < {cfg.min_performance:g}")
        if unmet:
            return s, self._event(s, "hold", t, i, f"hold in {stage.name}: " + "; ".join(unmet), numbers, p, drop)

        p_after = stage_performance(nxt.weights, evaluation.performance)
        delta = p_after - p
        numbers.update(
            p_before=_r(p),
            p_after=_r(p_after),
            delta=_r(delta),
            threshold=cfg.rollback_threshold,
            attempted_stage=i + 1,
            performance_drop=_r(-delta),
        )
        if delta < cfg.rollback_threshold - EPS:
            reason = (
                f"advance from {stage.name} to {nxt.name} rolled straight back: p_after {p_after:.3f} "
                f"- p_before {p:.3f} = {_r(delta):+.3f} < {cfg.rollback_threshold:+.3f}; stays in {stage.name}"
            )
            return self._rollback(s, t, i, i, reason, numbers, p, -delta)
        self._enter(s, i + 1, t)
        s["probation"] = {"p_before": p, "evaluations": 0}
        reason = (
            f"advance from {stage.name} to {nxt.name}: mean of last {cfg.window} = {mean:.3f} >= "
            f"{cfg.min_performance:g} after {in_stage} steps (dwell {dwell:g}); p_after {p_after:.3f} "
            f"- p_before {p:.3f} = {_r(delta):+.3f} >= {cfg.rollback_threshold:+.3f}"
        )
        return s, self._event(s, "advance", t, i, reason, numbers, p, -delta)

    @staticmethod
    def _enter(s: dict[str, Any], stage: int, t: int) -> None:
        s["stage"] = stage
        s["stage_start"] = t
        s["history"] = []
        s["probation"] = None

    def _rollback(
        self,
        s: dict[str, Any],
        t: int,
        before: int,
        after: int,
        reason: str,
        numbers: dict[str, Any],
        p: float,
        drop: float,
    ) -> tuple[dict[str, Any], Event]:
        self._enter(s, after, t)
        s["rollback_count"] += 1
        s["interval_scale"] = s["interval_scale"] * self.cfg.interval_backoff
        s["last_rollback"] = t
        numbers.update(interval_scale=s["interval_scale"], cooldown_until=t + self.cfg.cooldown_steps)
        return s, self._event(s, "rollback", t, before, reason, numbers, p, drop)

    def _event(
        self,
        s: dict[str, Any],
        kind: Any,
        t: int,
        before: int,
        reason: str,
        numbers: dict[str, Any],
        p: float,
        drop: float,
    ) -> Event:
        return Event(
            kind=kind,
            step=t,
            stage_before=before,
            stage_after=s["stage"],
            stage_name=self.cfg.stages[s["stage"]].name,
            reason=reason,
            numbers=numbers,
            rollback_count=s["rollback_count"],
            interval_scale=s["interval_scale"],
            performance=p,
            performance_drop=drop,
        )
