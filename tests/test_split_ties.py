"""Ties at the thresholds: ``split.ties: spread`` follows the percentiles whatever the ties (a numpy oracle of the
targets), only tied samples move, the default is the inclusive rule as before, and the split warns about ties."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.config_io import apply_overrides
from pixelis_data.config import DataConfig
from pixelis_data.schema import CATEGORIES, SCORE_COLUMN
from pixelis_data.split import split_to_dir
from pixelis_data.split.config import SplitConfig
from pixelis_data.split.hashing import TIE_SALT, reference_hash
from pixelis_data.split.plan import categories_expr
from pixelis_data.split.thresholds import compute_thresholds

runner = CliRunner()
grid = st.sampled_from([0.1, 0.2, 0.25, 0.3, 1 / 3, 0.5, 0.7, 0.9, 1.0])
scores_strategy = st.one_of(
    st.lists(grid, min_size=1, max_size=80),
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=80),
    st.lists(st.sampled_from([0.4, 0.6]), min_size=1, max_size=80),  # nearly everything tied
)
configs = st.builds(
    lambda p1, p2, k: SplitConfig(simple_percentile=min(p1, p2), medium_percentile=max(p1, p2), iqr_multiplier=k),
    st.sampled_from([0.0, 10.0, 33.0, 50.0]),
    st.sampled_from([50.0, 66.0, 90.0, 100.0]),
    st.sampled_from([0.0, 1.5, math.inf]),
)


def targets_oracle(x: np.ndarray, cfg: SplitConfig) -> list[float]:
    """Category sizes the percentiles aim at: positions (low outliers + (m - 1) q + 1) of the kept scores, by numpy."""
    q1, q3 = np.percentile(x, [25, 75])
    k = cfg.iqr_multiplier
    lower, upper = (-np.inf, np.inf) if math.isinf(k) else (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
    keep = (x >= lower) & (x <= upper)
    n_low = int((x < lower).sum()) if keep.any() else 0
    m = int(keep.sum()) or len(x)
    t_s, t_m = (n_low + (m - 1) * p / 100 + 1 for p in (cfg.simple_percentile, cfg.medium_percentile))
    return [t_s, t_m - t_s, len(x) - t_m]


def categorise(scores: list[float], cfg: SplitConfig, ids: list[str] | None = None) -> tuple[list[str], object]:
    ids = ids or [f"id{i}" for i in range(len(scores))]
    frame = pl.DataFrame(
        {"sample_id": ids, SCORE_COLUMN: scores}, schema={"sample_id": pl.String, SCORE_COLUMN: pl.Float64}
    )
    t = compute_thresholds(frame[SCORE_COLUMN], cfg)
    return frame.select(categories_expr(frame, t, cfg))["category"].to_list(), t


@settings(max_examples=150, deadline=None)
@given(scores_strategy, configs)
def test_spread_sizes_follow_the_percentiles_whatever_the_ties(scores, cfg):
    spread_cfg = SplitConfig(**{**cfg.__dict__, "ties": "spread"})
    cats, t = categorise(scores, spread_cfg)
    x = np.array(scores)
    sizes = [cats.count(c) for c in CATEGORIES]
    for size, target in zip(sizes, targets_oracle(x, cfg), strict=True):
        assert abs(size - target) <= 1, (sizes, targets_oracle(x, cfg))
    # only samples sitting on a threshold move: the rest keep the inclusive rule's category
    for s, c in zip(x, cats, strict=True):
        if s < t.t_simple:
            assert c == "simple"
        elif s > t.t_medium:
            assert c == "hard"
        elif t.t_simple < s < t.t_medium:
            assert c == "medium"
    # and the categories follow the (score, tie hash) order
    key = {c: i for i, c in enumerate(CATEGORIES)}
    order = sorted(range(len(x)), key=lambda i: (x[i], reference_hash(f"id{i}", TIE_SALT)))
    assert [key[cats[i]] for i in order] == sorted(key[cats[i]] for i in order)


@settings(max_examples=100, deadline=None)
@given(scores_strategy, configs)
def test_default_is_the_inclusive_rule(scores, cfg):
    assert cfg.ties == "inclusive"
    cats, t = categorise(scores, cfg)
    expected = ["simple" if s <= t.t_simple else "medium" if s <= t.t_medium else "hard" for s in scores]
    assert cats == expected


def test_spread_depends_on_ids_not_on_row_order():
    scores = [0.5] * 40 + [0.2] * 10 + [0.9] * 10
    ids = [f"sample-{i}" for i in range(len(scores))]
    cfg = SplitConfig(ties="spread")
    cats, _ = categorise(scores, cfg, ids)
    perm = list(range(len(scores)))
    random.Random(1).shuffle(perm)
    shuffled, _ = categorise([scores[i] for i in perm], cfg, [ids[i] for i in perm])
    assert dict(zip([ids[i] for i in perm], shuffled, strict=True)) == dict(zip(ids, cats, strict=True))


def scores_file(tmp_path, scores: list[float]):
    n = len(scores)
    frame = pl.DataFrame(
        {
            "sample_id": [f"s{i:03d}" for i in range(n)],
            "task_type": ["spatial_reasoning", "object_counting", "text_extraction"] * (n // 3) + ["x"] * (n % 3),
            "sample_type": ["positive"] * n,
            "question": ["q"] * n,
            "images": [[] for _ in range(n)],
            "trajectory": [[{"action": "THINK", "thought": "t", "parameters": None, "result": None}] for _ in range(n)],
            "answer": ["a"] * n,
            "sampling_weight": [1.0] * n,
            SCORE_COLUMN: scores,
        },
        schema_overrides={"images": pl.List(pl.String)},
    )
    path = tmp_path / "in.scores.parquet"
    frame.write_parquet(path)
    return path


TIED = [0.2] * 10 + [0.5] * 60 + [0.9] * 30
SPREAD = ["--set", "split.ties=spread", "--set", "split.iqr_multiplier=.inf"]


def test_inclusive_split_warns_with_cause_and_remedy(tmp_path):
    cfg = apply_overrides(DataConfig(), {"split.iqr_multiplier": math.inf})
    result = split_to_dir(scores_file(tmp_path, TIED), tmp_path / "out", cfg)
    (warning,) = [w for w in result.plan.report.warnings if "share the score" in w]
    assert warning.startswith("60 samples (60.0%) share the score 0.5 on t_simple and t_medium (P33)")
    assert "the inclusive rule (s <= t) puts all of them in simple, which holds 70.0%" in warning
    assert "where the percentiles aim at 33.7%" in warning  # (99 * 0.33 + 1) / 100
    assert "`pixelis score --model-scores FILE`" in warning and "`split.ties: spread`" in warning
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert warning in manifest["warnings"]


def test_spread_split_end_to_end(tmp_path):
    inp = scores_file(tmp_path, TIED)
    result = runner.invoke(
        app,
        ["split", str(inp), "--by-category", "-o", str(tmp_path / "out"), *SPREAD],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    totals = {c: manifest["category_counts"][c]["total"] for c in CATEGORIES}
    # c_simple = floor(99 * .33) + 1 = 33, c_medium = floor(99 * .66) + 1 = 66
    assert totals == {"simple": 33, "medium": 33, "hard": 34}
    assert manifest["config"]["split"]["ties"] == "spread"
    assert not any("share the score" in w for w in manifest["warnings"])
    text = " ".join(result.output.split())
    assert "split.ties spread sent them by stable hash to simple 23, medium 33, hard 4" in text
    assert "split.ties spread: by stable hash" in text
    rerun = runner.invoke(
        app,
        ["split", str(inp), "--by-category", "-o", str(tmp_path / "again"), *SPREAD],
    )
    assert rerun.exit_code == 0
    for name in (*CATEGORIES, "eval"):
        assert (tmp_path / "out" / f"{name}.arrow").read_bytes() == (tmp_path / "again" / f"{name}.arrow").read_bytes()


def test_bad_ties_value_is_a_one_line_error(tmp_path):
    result = runner.invoke(
        app, ["split", str(scores_file(tmp_path, TIED)), "--by-category", "--set", "split.ties=random"]
    )
    assert result.exit_code == 2
    assert "split.ties: must be one of 'inclusive', 'spread' (got 'random')" in result.output


@pytest.mark.parametrize("share, warned", [(0.05, True), (0.5, False)])
def test_tie_warning_share_sets_when_to_warn(tmp_path, share, warned):
    cfg = apply_overrides(DataConfig(), {"split.iqr_multiplier": math.inf, "split.tie_warning_share": share})
    result = split_to_dir(scores_file(tmp_path, TIED), tmp_path / "out", cfg)
    # 70 samples at or below t_simple against a target of 33.67: 36.3 over, 36% of 100 samples
    assert any("share the score" in w for w in result.plan.report.warnings) == warned
