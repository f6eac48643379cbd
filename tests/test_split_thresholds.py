"""Thresholds (docs/design.md §5) against a numpy oracle, the inclusive category rule, and SplitConfig validation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_core.config_io import ConfigError, from_dict
from pixelis_data.config import DataConfig
from pixelis_data.split.config import SplitConfig
from pixelis_data.split.thresholds import category_expr, compute_thresholds, linear_percentile

# Scores on a coarse grid produce ties and equal quartiles; wide floats produce IQR outliers.
grid_scores = st.lists(st.sampled_from([0.1, 0.2, 0.25, 0.3, 1 / 3, 0.5, 0.7, 0.9, 1.0]), min_size=1, max_size=60)
wide_scores = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
)
scores_strategy = st.one_of(grid_scores, wide_scores)


def numpy_thresholds(x: np.ndarray, k: float, p_simple: float, p_medium: float) -> tuple[float, float, int]:
    """The plain oracle: numpy's default percentile on the IQR-filtered scores."""
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    keep = (x >= q1 - k * iqr) & (x <= q3 + k * iqr)
    kept = x[keep] if keep.any() else x
    t1, t2 = np.percentile(kept, [p_simple, p_medium])
    return float(t1), float(t2), int((~keep).sum())


@settings(max_examples=300, deadline=None)
@given(
    scores_strategy, st.sampled_from([0.0, 0.5, 1.5, 3.0]), st.tuples(st.floats(0, 100), st.floats(0, 100)).map(sorted)
)
def test_thresholds_equal_numpy_on_iqr_filtered_scores(scores, k, percentiles):
    cfg = SplitConfig(iqr_multiplier=k, simple_percentile=percentiles[0], medium_percentile=percentiles[1])
    x = np.asarray(scores, dtype=np.float64)
    t = compute_thresholds(pl.Series(scores, dtype=pl.Float64), cfg)
    t1, t2, n_out = numpy_thresholds(x, k, percentiles[0], percentiles[1])
    assert (t.t_simple, t.t_medium) == (t1, t2)  # exact: one ulp can move a tied sample
    assert t.n_outliers == n_out
    assert t.n_kept + t.n_outliers == len(scores) or t.used_all


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40), st.floats(0, 1))
def test_linear_percentile_is_numpy_linear(values, q):
    ordered = pl.Series(values, dtype=pl.Float64).sort()
    assert linear_percentile(ordered, q) == float(np.quantile(np.asarray(values), q))


@settings(max_examples=150, deadline=None)
@given(scores_strategy)
def test_every_sample_categorised_by_inclusive_rule(scores):
    t = compute_thresholds(pl.Series(scores, dtype=pl.Float64), SplitConfig())
    got = pl.DataFrame({"s": scores}).select(category_expr(pl.col("s"), t)).to_series().to_list()
    expected = ["simple" if s <= t.t_simple else "medium" if s <= t.t_medium else "hard" for s in scores]
    assert got == expected


def test_outliers_are_excluded_from_thresholds_but_still_categorised():
    scores = [0.4, 0.41, 0.42, 0.43, 0.44, 0.45, 5.0]  # 5.0 is far beyond q3 + 1.5 IQR
    t = compute_thresholds(pl.Series(scores), SplitConfig())
    assert t.n_outliers_high == 1 and t.n_kept == 6
    assert t.t_medium == float(np.percentile(scores[:-1], 66))
    cats = pl.DataFrame({"s": scores}).select(category_expr(pl.col("s"), t)).to_series()
    assert cats[-1] == "hard"


def test_all_equal_scores_put_everything_in_simple():
    t = compute_thresholds(pl.Series([0.42] * 10), SplitConfig())
    assert t.t_simple == t.t_medium == 0.42
    cats = pl.DataFrame({"s": [0.42] * 10}).select(category_expr(pl.col("s"), t)).to_series()
    assert set(cats) == {"simple"}


def test_infinite_multiplier_disables_the_filter():
    t = compute_thresholds(pl.Series([0.5, 0.5, 0.5, 9.0]), SplitConfig(iqr_multiplier=float("inf")))
    assert t.n_outliers == 0 and t.n_kept == 4
    assert t.to_dict()["upper"] == "inf"


def test_zero_multiplier_keeping_nothing_uses_all_scores():
    t = compute_thresholds(pl.Series([0.0, 10.0]), SplitConfig(iqr_multiplier=0.0))
    assert t.used_all and t.n_kept == 2
    assert t.t_simple == float(np.percentile([0.0, 10.0], 33))


def test_empty_scores_are_refused():
    with pytest.raises(ValueError, match="no scores"):
        compute_thresholds(pl.Series([], dtype=pl.Float64), SplitConfig())


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as info:
        SplitConfig(
            simple_percentile=120,
            medium_percentile=50,
            eval_fraction=1.0,
            eval_per_category=-1,
            iqr_multiplier=float("nan"),
            min_task_types=-2,
        )
    message = str(info.value)
    for part in (
        "simple_percentile: must be between 0 and 100 (got 120)",
        "eval_fraction: must be in [0, 1) (got 1.0)",
        "eval_per_category: must be >= 0 or null (got -1)",
        "iqr_multiplier",
        "min_task_types",
        "simple_percentile must be <= medium_percentile",
    ):
        assert part in message


def test_split_section_of_the_data_yaml(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("split:\n  simple_percentile: 25\n  eval_per_category: 7\nscore:\n  clip_min: 0.0\n")
    from pixelis_core.config_io import load_yaml

    cfg = load_yaml(DataConfig, path)
    assert cfg.split.simple_percentile == 25.0 and cfg.split.eval_per_category == 7
    assert cfg.split.eval_mode == "per_category"
    with pytest.raises(ConfigError, match=r"split\.eval_fraction: must be in \[0, 1\) \(got 2\.0\)"):
        from_dict(DataConfig, {"split": {"eval_fraction": 2}})
