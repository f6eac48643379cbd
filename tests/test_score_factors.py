"""Every factor and the composite against the per-sample Python oracle, plus the edge cases of docs/design.md §4."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelis_core.config_io import ConfigError, from_dict
from pixelis_data.config import CustomFactorsConfig, DataConfig, ErrorPatternConfig, ScoreConfig, TaskConfig
from pixelis_data.custom_factors import custom_factors
from pixelis_data.factor_registry import BUILTIN_FACTORS, FACTORS, Factor
from pixelis_data.schema import FACTOR_COLUMNS, SCORE_COLUMN
from pixelis_data.score import count_exprs, score_frame
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


# docs/design.md §4: the five factors, in the column order of a scores file, with their default weights.
SPEC_WEIGHTS = {
    "trajectory_complexity": 0.30,
    "operation_sophistication": 0.25,
    "reasoning_depth": 0.20,
    "error_patterns": 0.15,
    "task_type_score": 0.10,
}

weights = st.dictionaries(
    st.sampled_from(list(SPEC_WEIGHTS)),
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


def test_factors_take_their_constants_from_their_config_section():
    cfg = ScoreConfig(task=TaskConfig(default=0.25))
    got = scored([{"trajectory": [{"action": "THINK"}] * 3 + [{"action": "ZOOM_IN"}]}], cfg)[0]
    assert (got["reasoning_depth"], got["task_type_score"]) == (pytest.approx(1 - 0.15 / 0.4 * 0.3), 0.25)  # r = 0.75


def test_registry_is_the_spec():
    assert FACTOR_COLUMNS == tuple(SPEC_WEIGHTS) == tuple(f.column for f in BUILTIN_FACTORS) == tuple(FACTORS)
    assert ScoreConfig().weights == SPEC_WEIGHTS
    counts = count_exprs(ScoreConfig())
    for factor in BUILTIN_FACTORS:
        assert factor.section in ScoreConfig.__dataclass_fields__, factor
        assert set(factor.inputs) <= set(counts), factor
        assert factor.description and "\n" not in factor.description, factor


def test_old_weight_key_is_renamed_and_reported_with_the_other_problems():
    with pytest.raises(ConfigError) as info:
        from_dict(DataConfig, {"score": {"weights": {"task_type": 0.1, "speed": 1.0, "reasoning_depth": -1.0}}})
    assert info.value.problems == [
        "score.weights.task_type: renamed to task_type_score (weights are keyed by output column)",
        "score.weights.speed: unknown factor (known: " + ", ".join(SPEC_WEIGHTS) + ")",
        "score.weights.reasoning_depth: must be a finite number >= 0 (got -1.0)",
    ]


def test_custom_factors_are_registry_entries_scored_like_the_built_ins(tmp_path):
    module = tmp_path / "mine.py"
    module.write_text(
        "import polars as pl\n\n"
        'def steps_seen():\n    """Steps, from the shared count.\n\n    More."""\n'
        "    return pl.col('n_steps') / 10\n"
    )
    (factor,) = custom_factors(str(module), {"steps_seen": 0.5})
    assert isinstance(factor, Factor)
    assert (factor.column, factor.weight, factor.section, factor.description) == (
        "steps_seen",
        0.5,
        None,
        "Steps, from the shared count.",
    )
    cfg = ScoreConfig(custom=CustomFactorsConfig(module=str(module), weights={"steps_seen": 0.5}))
    frame = canonical_frame([{"trajectory": [{"action": "THINK"}] * 4}])
    got = score_frame(frame.lazy(), cfg, (factor,)).collect()
    assert got.columns[frame.width :][:7] == [*FACTOR_COLUMNS, "steps_seen", SCORE_COLUMN]
    plain = score_frame(frame.lazy(), ScoreConfig()).collect()
    assert got["steps_seen"].to_list() == [0.4]
    assert got[SCORE_COLUMN][0] == pytest.approx(plain[SCORE_COLUMN][0] + 0.5 * 0.4, abs=1e-15)


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
