"""Hypothesis state machine over arbitrary evaluation sequences, against a plain reference of docs/design.md §6."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum import CurriculumConfig, Evaluation, Event, StageConfig, make_policy

MIXES = ((1.0, 0.0, 0.0), (0.7, 0.3, 0.0), (0.4, 0.4, 0.2), (0.2, 0.4, 0.4), (0.0, 0.0, 1.0), (0.2, 0.3, 0.5))
# A coarse grid makes exact ties with min_performance and with the rollback limits common.
VALUES = (0.0, 0.3, 0.55, 0.6, 0.65, 0.7, 0.75, 0.9, 1.0)
EPS = 1e-9


class Reference:
    """docs/design.md §6 written plainly (numpy for the weighted means): predicts (kind, stage after)."""

    def __init__(self, cfg: CurriculumConfig) -> None:
        self.cfg = cfg
        self.w = [np.array([s.weights[c] for c in CATEGORIES]) for s in cfg.stages]
        self.stage, self.start, self.hist = 0, 0, []
        self.last_rollback: int | None = None
        self.scale, self.probation, self.checks = 1.0, None, 0

    def perf(self, stage: int, values: np.ndarray) -> float:
        return float(self.w[stage] @ values)

    def step(self, t: int, values: np.ndarray) -> tuple[str, int]:
        cfg, i = self.cfg, self.stage
        if cfg.policy == "none":
            return "hold", 0
        in_stage = t - self.start
        if cfg.policy == "fixed":
            if i < len(cfg.stages) - 1 and in_stage >= cfg.stages[i].steps:
                self.stage, self.start = i + 1, t
                return "advance", i + 1
            return "hold", i
        p = self.perf(i, values)
        if self.probation is not None:
            self.checks += 1
            if p < self.probation + cfg.rollback_threshold - EPS:
                return self.rollback(t, i - 1)
            if self.checks >= cfg.window:
                self.probation = None
        self.hist.append(p)
        if i == len(cfg.stages) - 1:
            return "hold", i
        if cfg.max_stage_steps is not None and in_stage >= cfg.max_stage_steps:
            self.enter(i + 1, t)
            return "forced_advance", i + 1
        dwell_ok = in_stage >= cfg.stages[i].steps * self.scale
        cool_ok = self.last_rollback is None or t - self.last_rollback >= cfg.cooldown_steps
        recent = self.hist[-cfg.window :]
        perf_ok = len(recent) == cfg.window and sum(recent) / cfg.window >= cfg.min_performance - EPS
        if not (dwell_ok and cool_ok and perf_ok):
            return "hold", i
        if self.perf(i + 1, values) - p < cfg.rollback_threshold - EPS:
            return self.rollback(t, i)
        self.enter(i + 1, t)
        self.probation, self.checks = p, 0
        return "advance", i + 1

    def enter(self, stage: int, t: int) -> None:
        self.stage, self.start, self.hist, self.probation = stage, t, [], None

    def rollback(self, t: int, stage: int) -> tuple[str, int]:
        self.enter(stage, t)
        self.scale *= self.cfg.interval_backoff
        self.last_rollback = t
        return "rollback", stage


class CurriculumMachine(RuleBasedStateMachine):
    @initialize(
        policy=st.sampled_from(["adaptive", "adaptive", "fixed", "none"]),
        plan=st.lists(st.tuples(st.integers(1, 4), st.sampled_from(MIXES)), min_size=1, max_size=4),
        last_mix=st.sampled_from(MIXES),
        window=st.integers(1, 3),
        cooldown=st.integers(0, 10),
        backoff=st.sampled_from([1.0, 1.5, 2.0]),
        forced=st.one_of(st.none(), st.integers(4, 14)),
        threshold=st.sampled_from([0.0, -0.05, -0.2]),
        min_perf=st.sampled_from([0.0, 0.6, 0.9]),
    )
    def setup(
        self,
        policy: str,
        plan: list[tuple[int, tuple[float, ...]]],
        last_mix: tuple[float, ...],
        window: int,
        cooldown: int,
        backoff: float,
        forced: int | None,
        threshold: float,
        min_perf: float,
    ) -> None:
        stages = [
            StageConfig(f"s{i}", steps, dict(zip(CATEGORIES, mix, strict=True))) for i, (steps, mix) in enumerate(plan)
        ]
        stages.append(StageConfig("last", None, dict(zip(CATEGORIES, last_mix, strict=True))))
        self.cfg = CurriculumConfig(
            policy=policy,
            stages=tuple(stages),
            eval_interval=1,
            window=window,  # type: ignore[arg-type]
            cooldown_steps=cooldown,
            interval_backoff=backoff,
            max_stage_steps=forced,
            rollback_threshold=threshold,
            min_performance=min_perf,
        )
        self.policy = make_policy(self.cfg)
        self.state = self.policy.initial_state()
        self.ref = Reference(self.cfg)
        self.last_step = -1
        self.saved = json.dumps(self.state)
        self.since_save: list[tuple[Evaluation, Event]] = []
        self.n_stages = 1 if policy == "none" else len(stages)

    @rule(gap=st.integers(1, 3), values=st.tuples(*[st.sampled_from(VALUES)] * 3))
    def evaluate(self, gap: int, values: tuple[float, float, float]) -> None:
        step = self.last_step + gap
        evaluation = Evaluation(step, dict(zip(CATEGORIES, values, strict=True)))
        before = copy.deepcopy(self.state)
        scale, stage, start = before["interval_scale"], before["stage"], before["stage_start"]
        last_rollback = before["last_rollback"]
        new, event = self.policy.decide(self.state, evaluation)
        assert self.state == before, "decide mutated its input state"
        kind, expected_stage = self.ref.step(step, np.array(values))
        assert (event.kind, event.stage_after) == (kind, expected_stage), (event, self.cfg)
        assert (event.step, event.stage_before, new["stage"]) == (step, stage, event.stage_after)
        if event.kind == "advance":
            assert event.stage_after == stage + 1
            assert step - start >= self.cfg.stages[stage].steps * scale, "advance before the dwell is over"
            if self.cfg.policy == "adaptive":
                assert last_rollback is None or step - last_rollback >= self.cfg.cooldown_steps, "advance in cooldown"
        if event.kind == "forced_advance":
            assert self.cfg.max_stage_steps is not None and step - start >= self.cfg.max_stage_steps
        if event.kind == "rollback":
            assert self.cfg.policy == "adaptive" and event.stage_after in (stage, stage - 1)
            assert new["interval_scale"] == scale * self.cfg.interval_backoff
            assert new["rollback_count"] == before["rollback_count"] + 1
        else:
            assert new["interval_scale"] == scale, "interval scale changed without a rollback"
        self.state, self.last_step = new, step
        self.since_save.append((evaluation, event))

    @rule()
    def save(self) -> None:
        self.saved = json.dumps(self.state)
        self.since_save = []

    @precondition(lambda self: self.since_save)
    @rule()
    def replay_from_saved_state(self) -> None:
        state = json.loads(self.saved)
        for evaluation, event in self.since_save:
            state, replayed = self.policy.decide(state, evaluation)
            assert replayed == event
        assert state == self.state

    @invariant()
    def stage_in_range_and_weights_a_distribution(self) -> None:
        if not hasattr(self, "policy"):
            return
        assert 0 <= self.state["stage"] < self.n_stages
        weights = self.policy.weights(self.state)
        assert list(weights) == list(CATEGORIES)
        assert all(w >= 0 and math.isfinite(w) for w in weights.values())
        assert abs(sum(weights.values()) - 1.0) <= 1e-6


CurriculumMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
TestCurriculumMachine = CurriculumMachine.TestCase
