"""Hand-written curriculum scenarios with exact expected event sequences (docs/design.md §6)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum import CurriculumConfig, Evaluation, Event, StageConfig, make_policy, stage_performance
from pixelis_train.curriculum.config import default_stages

Learner = Callable[[int, dict[str, float], int], dict[str, float]]
"""(step, weights in force, times the current stage was entered) -> per-category performance."""


def constant(value: float) -> Learner:
    return lambda step, weights, entries: dict.fromkeys(CATEGORIES, value)


def run(cfg: CurriculumConfig, learner: Learner, last_step: int) -> list[Event]:
    """The training loop's use of the policy: decide at every eval_interval, then ask for the weights."""
    policy = make_policy(cfg)
    state = policy.initial_state()
    weights = policy.weights(state)
    entries = {0: 1}
    events = []
    for step in range(cfg.eval_interval, last_step + 1, cfg.eval_interval):
        state, event = policy.decide(state, Evaluation(step, learner(step, weights, entries[state["stage"]])))
        if event.stage_after != event.stage_before:
            entries[event.stage_after] = entries.get(event.stage_after, 0) + 1
        weights = policy.weights(state)
        events.append(event)
    return events


def changes(events: list[Event]) -> list[tuple[int, str, int, int]]:
    return [(e.step, e.kind, e.stage_before, e.stage_after) for e in events if e.kind != "hold"]


def test_steady_learner_advances_at_the_planned_boundaries() -> None:
    events = run(CurriculumConfig(), constant(0.8), 10_000)
    assert changes(events) == [
        (2000, "advance", 0, 1),
        (4000, "advance", 1, 2),
        (6000, "advance", 2, 3),
        (8000, "advance", 3, 4),
    ]
    assert [e.stage_name for e in events][-1] == "full"
    assert all(e.rollback_count == 0 and e.interval_scale == 1.0 for e in events)
    assert "mean of last 3 = 0.800 >= 0.6" in events[3].reason


def collapses_on_first_hard_stint(step: int, weights: dict[str, float], entries: int) -> dict[str, float]:
    """0.8 everywhere, except 0.7 during its first stint on balanced (its first hard data)."""
    first_hard = weights == default_stages()[2].weights and entries == 1
    return dict.fromkeys(CATEGORIES, 0.7 if first_hard else 0.8)


def test_collapse_rolls_back_then_retries_after_the_doubled_interval() -> None:
    events = run(CurriculumConfig(), collapses_on_first_hard_stint, 17_000)
    assert changes(events) == [
        (2000, "advance", 0, 1),
        (4000, "advance", 1, 2),
        (4500, "rollback", 2, 1),  # 0.7 < p_before 0.8 - 0.05, first evaluation after the advance
        (8500, "advance", 1, 2),  # dwell 2000 x 2 after the rollback
        (12500, "advance", 2, 3),  # the doubled scale applies to every later stage
        (16500, "advance", 3, 4),
    ]
    rollback = events[8]
    assert rollback.numbers["p_before"] == 0.8 and rollback.numbers["limit"] == 0.75
    assert rollback.numbers["cooldown_until"] == 5500
    assert rollback.metrics() == {
        "curriculum/stage": 1,
        "curriculum/stage_name": "simple_medium",
        "curriculum/event": "rollback",
        "curriculum/performance_drop": pytest.approx(0.1),
        "curriculum/rollback_count": 1,
        "curriculum/interval_scale": 2.0,
        "curriculum/performance": pytest.approx(0.7),
    }
    assert [e.interval_scale for e in events[:8]] == [1.0] * 8 and events[-1].interval_scale == 2.0


def test_cooldown_longer_than_the_dwell_delays_the_retry() -> None:
    cfg = CurriculumConfig(cooldown_steps=5000)
    events = run(cfg, collapses_on_first_hard_stint, 9_500)
    assert changes(events) == [
        (2000, "advance", 0, 1),
        (4000, "advance", 1, 2),
        (4500, "rollback", 2, 1),
        (9500, "advance", 1, 2),
    ]
    hold = next(e for e in events if e.step == 9000)
    assert "cooldown until step 9500" in hold.reason and "of 4000 steps" not in hold.reason


def test_learner_below_min_performance_stays_put() -> None:
    events = run(CurriculumConfig(), constant(0.59), 20_000)
    assert changes(events) == []
    assert {e.stage_after for e in events} == {0}
    assert "mean of last 3 performances 0.590 < 0.6" in events[-1].reason
    # exactly the threshold is enough (a mean of three 0.6 is not rounded below 0.6)
    assert changes(run(CurriculumConfig(), constant(0.6), 2000)) == [(2000, "advance", 0, 1)]


def test_immediate_check_rejects_an_advance_onto_a_much_weaker_mixture() -> None:
    def learner(step: int, weights: dict[str, float], entries: int) -> dict[str, float]:
        return {"simple": 0.9, "medium": 0.6 if step <= 2000 else 0.85, "hard": 0.5}

    events = run(CurriculumConfig(), learner, 6000)
    # p_after 0.7*0.9 + 0.3*0.6 = 0.81; 0.81 - 0.9 = -0.09 < -0.05: the stream never sees stage 1
    assert changes(events) == [(2000, "rollback", 0, 0), (6000, "advance", 0, 1)]
    assert events[3].numbers["attempted_stage"] == 1
    assert events[3].numbers["delta"] == pytest.approx(-0.09)
    assert events[3].interval_scale == 2.0 and events[3].rollback_count == 1


def test_forced_advance_ignores_performance_and_skips_the_probation() -> None:
    def drops_after_the_first_forced_advance(step: int, weights: dict[str, float], entries: int) -> dict[str, float]:
        return dict.fromkeys(CATEGORIES, 0.5 if step <= 3000 else 0.2)  # a probation would roll back at 3500

    cfg = CurriculumConfig(max_stage_steps=3000)
    events = run(cfg, drops_after_the_first_forced_advance, 13_000)
    assert changes(events) == [
        (3000, "forced_advance", 0, 1),
        (6000, "forced_advance", 1, 2),
        (9000, "forced_advance", 2, 3),
        (12000, "forced_advance", 3, 4),
    ]


def test_fixed_ignores_performance() -> None:
    rng = np.random.default_rng(0)

    def noisy(step: int, weights: dict[str, float], entries: int) -> dict[str, float]:
        return {c: float(rng.uniform(0, 1)) for c in CATEGORIES}

    cfg = CurriculumConfig(policy="fixed")
    expected = [(2000, "advance", 0, 1), (4000, "advance", 1, 2), (6000, "advance", 2, 3), (8000, "advance", 3, 4)]
    assert changes(run(cfg, noisy, 12_000)) == expected
    assert changes(run(cfg, constant(0.0), 12_000)) == expected


def test_none_never_changes_weights() -> None:
    sizes = {"simple": 50, "medium": 30, "hard": 20}
    for static, expected in (
        (None, {"simple": 0.5, "medium": 0.3, "hard": 0.2}),  # null: proportional to the category sizes
        ({"medium": 1.0}, {"simple": 0.0, "medium": 1.0, "hard": 0.0}),  # explicit weights win over the sizes
    ):
        cfg = CurriculumConfig(policy="none", static_weights=static).with_category_sizes(sizes)
        policy = make_policy(cfg)
        state = policy.initial_state()
        assert policy.weights(state) == expected
        for step in range(500, 20_001, 500):
            state, event = policy.decide(state, Evaluation(step, dict.fromkeys(CATEGORIES, step / 20_000)))
            assert event.kind == "hold" and event.stage_name == "static"
            assert policy.weights(state) == expected


def test_decide_is_pure_and_steps_must_increase() -> None:
    policy = make_policy(CurriculumConfig())
    state = policy.initial_state()
    state, event = policy.decide(state, Evaluation(0, dict.fromkeys(CATEGORIES, 0.9)))
    assert event.kind == "hold"  # step 0 is an ordinary evaluation: no dwell is 0 steps
    frozen = copy.deepcopy(state)
    new, _ = policy.decide(state, Evaluation(500, dict.fromkeys(CATEGORIES, 0.9)))
    assert state == frozen and new != state
    with pytest.raises(ValueError, match=r"evaluation step 500 is not after the previous evaluation \(step 500\)"):
        policy.decide(new, Evaluation(500, dict.fromkeys(CATEGORIES, 0.9)))


def test_bad_states_and_evaluations_are_refused() -> None:
    adaptive, fixed = make_policy(CurriculumConfig()), make_policy(CurriculumConfig(policy="fixed"))
    perf = dict.fromkeys(CATEGORIES, 0.5)
    with pytest.raises(ValueError, match=r"policy: the state belongs to policy 'adaptive', not 'fixed'"):
        fixed.decide(adaptive.initial_state(), Evaluation(1, perf))
    with pytest.raises(ValueError, match=r"stage: must be an index in \[0, 4\] \(got 7\)"):
        adaptive.weights({**adaptive.initial_state(), "stage": 7})
    with pytest.raises(ValueError, match=r"missing keys \['probation'\].*unknown keys \['extra'\]"):
        state = adaptive.initial_state()
        del state["probation"]
        adaptive.decide({**state, "extra": 1}, Evaluation(1, perf))
    with pytest.raises(
        ValueError,
        match=r"performance.hard: must be a number in \[0, 1\] \(got 1.5\).*"
        r"performance.easy: unknown category",
    ):
        Evaluation(1, {"simple": 0.5, "hard": 1.5, "easy": 0.1})
    with pytest.raises(ValueError, match=r"step: must be an integer >= 0 \(got -1\)"):
        Evaluation(-1, perf)


def test_stage_performance_needs_only_weighted_categories() -> None:
    assert stage_performance({"simple": 1.0, "medium": 0.0, "hard": 0.0}, {"simple": 0.7}) == 0.7
    with pytest.raises(ValueError, match=r"no performance for category hard, which the stage weights use"):
        stage_performance({"simple": 0.5, "medium": 0.0, "hard": 0.5}, {"simple": 0.7, "medium": 0.1})


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([s.weights for s in default_stages()]),
    st.lists(st.floats(0, 1), min_size=3, max_size=3),
)
def test_stage_performance_is_the_weighted_mean(weights: dict[str, float], values: list[float]) -> None:
    perf = dict(zip(CATEGORIES, values, strict=True))
    expected = np.average(values, weights=[weights[c] for c in CATEGORIES])
    assert stage_performance(weights, perf) == pytest.approx(expected, abs=1e-12)


def test_events_and_state_are_json_serialisable() -> None:
    cfg = CurriculumConfig(
        stages=(StageConfig("a", 2, {"simple": 1.0}), StageConfig("b", None, {"hard": 1.0})), eval_interval=1
    )
    policy = make_policy(cfg)
    state = policy.initial_state()
    for step in range(1, 6):
        state, event = policy.decide(state, Evaluation(step, dict.fromkeys(CATEGORIES, 0.9)))
        assert Event.from_json(json.loads(json.dumps(event.to_json()))) == event
        assert json.loads(json.dumps(state)) == state
        assert set(event.metrics()) >= {
            "curriculum/stage",
            "curriculum/stage_name",
            "curriculum/event",
            "curriculum/performance_drop",
            "curriculum/rollback_count",
        }


def test_numpy_metrics_are_accepted_and_stored_as_plain_floats() -> None:
    policy = make_policy(CurriculumConfig())
    evaluation = Evaluation(np.int64(500), {c: np.float32(0.75) for c in CATEGORIES})
    state, event = policy.decide(policy.initial_state(), evaluation)
    assert type(evaluation.step) is int and all(type(v) is float for v in evaluation.performance.values())
    assert json.loads(json.dumps(state)) == state and event.performance == pytest.approx(0.75)
