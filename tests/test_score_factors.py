"""Every factor and the composite against the per-sample Python oracle, plus the edge cases of DESIGN §4."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelis_data import factors as F
from pixelis_data.config import DataConfig, ErrorPatternConfig, ScoreConfig, TaskConfig
from pixelis_data.schema import FACTOR_COLUMNS, SCORE_COLUMN
from pixelis_data.score import score_frame
from tests.conftest import canonical_frame
from tests.score_oracle import score_record

ACTIONS = ["ZOOM_IN", "THINK", "SEGMENT_OBJECT_AT", "READ_TEXT", "GET_PROPERTIES", "TRACK_OBJECT", "CUSTOM_OP", "X"]
THOUGHTS = [
    "",
    "Let me look closer.",
    "Wait, that is wrong.",
    "I await the result.",
    "actually yes",
    "It doesn't seem right",
    "let me try again",
    "no correction needed? correction!",
    "waiting...",
    "Correctional facility",
    "WAIT",
    "unawaited",
    None,
]
COORDS = [None, [], [10, 20], [10, 20], [30, 40], [[1, 2], [3, 4]]]

step = st.fixed_dictionaries(
    {
        "action": st.sampled_from(ACTIONS),
        "thought": st.sampled_from(THOUGHTS),
        "parameters": st.sampled_from(COORDS).map(lambda c: {} if c is None else {"coordinates": c, "label": "x"}),
    }
)
record = st.fixed_dictionaries(
    {
        "trajectory": st.lists(step, max_size=18),
        "task_type": st.sampled_from(
            ["spatial_reasoning", "Object_Counting", "TEXT_EXTRACTION", "unknown", "new_task"]
        ),
        "sample_type": st.sampled_from(
            ["positive", "outcome_negative", "trap_perceptual", "trap_logical", "self_correction", "weird"]
        ),
    }
)
COLUMNS = [
    *FACTOR_COLUMNS,
    SCORE_COLUMN,
    "n_steps",
    "n_known_ops",
    "n_unique_ops",
    "n_think",
    "n_repetitions",
    "has_self_correction",
    "has_backtracking",
    "n_unknown_ops",
]


def scored(records, cfg: ScoreConfig | None = None) -> list[dict]:
    frame = canonical_frame(records)
    return score_frame(frame.lazy(), cfg or ScoreConfig()).collect().select(COLUMNS).to_dicts()


def assert_matches_oracle(records, cfg: ScoreConfig | None = None) -> None:
    for rec, got in zip(records, scored(records, cfg), strict=True):
        want = score_record(canonical_frame([rec]).to_dicts()[0], cfg)
        for key in COLUMNS:
            if isinstance(want[key], float):
                assert math.isclose(got[key], want[key], abs_tol=1e-12), (key, rec, got[key], want[key])
            else:
                assert got[key] == want[key], (key, rec, got[key], want[key])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=1, max_size=12))
def test_factors_match_oracle(records):
    assert_matches_oracle(records)


weights = st.dictionaries(
    st.sampled_from(
        ["trajectory_complexity", "operation_sophistication", "reasoning_depth", "error_patterns", "task_type"]
    ),
    st.floats(0, 2),
    min_size=5,
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(record, min_size=1, max_size=6),
    weights,
    st.floats(0, 0.5),
    st.floats(0.5, 1.5),
    st.integers(2, 4),
    st.floats(0.05, 0.5),
)
def test_composite_matches_oracle_under_other_constants(records, w, lo, hi, run, low_ratio):
    cfg = ScoreConfig(
        weights=w,
        clip_min=lo,
        clip_max=hi,
        errors=ErrorPatternConfig(repetition_run=run),
        reasoning=DataConfig().score.reasoning.__class__(low_ratio=low_ratio, high_ratio=0.6),
    )
    assert_matches_oracle(records, cfg)


def one(trajectory, **kw) -> dict:
    return scored([{"trajectory": trajectory, **kw}])[0]


def test_empty_trajectory():
    got = one([])
    assert got["trajectory_complexity"] == 0.1
    assert got["operation_sophistication"] == 0.3
    assert got["reasoning_depth"] == 0.0
    assert got["n_steps"] == 0 and got["n_unknown_ops"] == 0


def test_one_step():
    got = one([{"action": "ZOOM_IN"}])
    assert got["trajectory_complexity"] == 0.1
    assert got["operation_sophistication"] == pytest.approx(2.0 / 3.0 + 0.2)
    assert got["reasoning_depth"] == 0.0


def test_only_unknown_actions():
    got = one([{"action": "FOO"}, {"action": "BAR"}, {"action": "FOO"}])
    assert got["operation_sophistication"] == 0.3
    assert got["n_known_ops"] == 0 and got["n_unknown_ops"] == 3


def test_four_equal_actions_in_a_row_are_two_repetitions():
    got = one([{"action": "ZOOM_IN"}] * 4)
    assert got["n_repetitions"] == 2
    assert got["error_patterns"] == pytest.approx(0.4)


def test_repetition_counts_known_actions_only():
    # unknown actions in between do not break the run of known ones
    got = one([{"action": "ZOOM_IN"}, {"action": "FOO"}, {"action": "ZOOM_IN"}, {"action": "ZOOM_IN"}])
    assert got["n_repetitions"] == 1


def test_repeated_coordinates():
    seg = [{"action": "SEGMENT_OBJECT_AT", "parameters": {"coordinates": [5, 6]}}] * 3
    got = one(seg + [{"action": "SEGMENT_OBJECT_AT", "parameters": {"coordinates": []}}] * 2)
    # 3 equal non-empty coordinates: the 2nd and 3rd repeat an earlier one; empty ones never count
    assert got["has_backtracking"] is True
    assert got["error_patterns"] == pytest.approx(min(1.0, 0.2 * 2 + 0.2 * 3))


def test_await_does_not_count_as_wait():
    assert one([{"action": "THINK", "thought": "I await the answer"}])["has_self_correction"] is False
    assert one([{"action": "THINK", "thought": "Wait, no."}])["has_self_correction"] is True
    assert one([{"action": "THINK", "thought": "It doesn’t seem right"}])["has_self_correction"] is True


def test_self_correction_sample_type_sets_flag_and_modifier():
    got = one([{"action": "THINK"}], sample_type="self_correction")
    assert got["has_self_correction"] is True
    assert got["error_patterns"] == pytest.approx(0.15)


def test_unknown_task_type_scores_default_and_lookup_is_case_insensitive():
    assert one([], task_type="brand_new")["task_type_score"] == 0.5
    assert one([], task_type="Temporal_Tracking")["task_type_score"] == 1.0
    assert one([], task_type="OBJECT_COUNTING")["task_type_score"] == 0.4


def test_reasoning_depth_band():
    think, op = {"action": "THINK"}, {"action": "ZOOM_IN"}
    assert one([think, op, op, op, op])["reasoning_depth"] == 1.0  # r = 0.2
    assert one([think, op, op, op, op, op, op, op, op, op])["reasoning_depth"] == pytest.approx(0.5)
    assert one([think] * 5)["reasoning_depth"] == pytest.approx(0.7)  # r = 1: 1 - 0.4/0.4*0.3


def test_composite_is_clipped():
    cfg = ScoreConfig(weights={k: 0.0 for k in ScoreConfig().weights})
    assert scored([{"trajectory": []}], cfg)[0][SCORE_COLUMN] == 0.1


def test_factor_functions_work_standalone():
    frame = canonical_frame([{"trajectory": [{"action": "THINK"}] * 3 + [{"action": "ZOOM_IN"}]}])
    got = frame.select(
        F.reasoning_depth(ScoreConfig().reasoning).alias("r"),
        F.task_type_score(TaskConfig(default=0.25)).alias("t"),
    ).row(0)
    assert got == (pytest.approx(1 - 0.15 / 0.4 * 0.3), 0.25)  # r = 0.75


def test_custom_phrases_from_config():
    cfg = ScoreConfig(errors=ErrorPatternConfig(phrases=("oops",)))
    got = scored(
        [
            {"trajectory": [{"action": "THINK", "thought": "Oops, wrong box"}]},
            {"trajectory": [{"action": "THINK", "thought": "wait"}]},
        ],
        cfg,
    )
    assert [g["has_self_correction"] for g in got] == [True, False]


def test_score_frame_is_lazy_and_keeps_input_columns():
    frame = canonical_frame([{"trajectory": [{"action": "THINK"}]}])
    lazy = score_frame(frame.lazy(), ScoreConfig())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema().names()[: frame.width] == frame.columns
