"""The numbers behind the scores section: histogram, thresholds, factor distributions, means, correlations.

Statistics come from the same functions as the terminal report of `pixelis score` (``factor_summary``,
``histogram`` in ``pixelis_data/summary.py``) and thresholds from the split's own ``compute_thresholds``, so
the pictures and the terminal never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from pixelis_data.config import DataConfig, ScoreConfig
from pixelis_data.factor_registry import MODEL_FACTOR
from pixelis_data.report.inputs import ReportInputError
from pixelis_data.schema import CATEGORIES, FACTOR_COLUMNS, SCORE_COLUMN
from pixelis_data.score import composite_weights, factor_columns, heuristic_weights, weighted_sum
from pixelis_data.split.thresholds import Thresholds, category_expr, compute_thresholds
from pixelis_data.stats import spearman
from pixelis_data.summary import HIST_BINS, factor_summary, histogram, mean_by

SCORE_BINS = HIST_BINS * 4
"""Bins of the report histogram: the terminal's bins split in four (each terminal bin = 4 of these)."""
FACTOR_BINS = 20

SCATTER_POINTS = 20_000
"""At most this many samples are drawn in the validity scatter (a seeded sample); Spearman uses all."""
HEURISTIC = "heuristic composite"
"""Name of the composite recomputed from the heuristic factor columns alone (no model_difficulty)."""

Bins = list[tuple[float, float, int]]


@dataclass(frozen=True)
class Validity:
    """Heuristic difficulty against model difficulty, for a scores file with a ``model_difficulty`` column."""

    n: int
    """Samples with a model_difficulty (the others had no model score)."""
    heuristic: list[float]
    """The heuristic composite of the plotted samples: clip(sum of heuristic weight x factor), as without a model."""
    model: list[float]
    """Their model_difficulty."""
    spearman: dict[str, float]
    """Spearman with model_difficulty over all n samples: each heuristic factor, then the heuristic composite."""


@dataclass(frozen=True)
class ScoresView:
    """Everything the scores section shows."""

    path: Path
    n: int
    factors: list[str]
    """Factor columns in the composite (built-in + custom ones present in the file)."""
    weights: dict[str, float]
    clip: tuple[float, float]
    score_bins: Bins
    thresholds: Thresholds
    category_counts: dict[str, int]
    summary: pl.DataFrame
    """factor, mean, p10, p50, p90 (factors then difficulty_score), as in the terminal report."""
    factor_bins: dict[str, Bins]
    by_task: pl.DataFrame
    """task_type, n, mean difficulty (sorted by task_type)."""
    by_sample: pl.DataFrame
    correlation: list[list[float]]
    """Pearson correlation of ``[*factors, difficulty_score]``; NaN where a column is constant."""
    validity: Validity | None = None
    """Heuristic vs model difficulty; None when the file has no ``model_difficulty`` column."""


def _with_model(cfg: ScoreConfig, names: list[str]) -> ScoreConfig:
    """``cfg`` as the file was scored: with the model factor when the file has its column."""
    if MODEL_FACTOR.column not in names or cfg.model_scores.path is not None:
        return cfg
    return replace(cfg, model_scores=replace(cfg.model_scores, path="(the scores file's model_difficulty)"))


def validity(scores: pl.LazyFrame, cfg: ScoreConfig, factors: list[str]) -> Validity:
    """Heuristic composite and factors against model_difficulty (the samples that have one)."""
    heuristic = [c for c in factors if c != MODEL_FACTOR.column]
    weights = heuristic_weights(cfg)
    composite = weighted_sum({c: weights.get(c, 0.0) for c in heuristic}).clip(cfg.clip_min, cfg.clip_max)
    frame = (
        scores.filter(pl.col(MODEL_FACTOR.column).is_not_null())
        .select(*heuristic, composite.alias(HEURISTIC), MODEL_FACTOR.column)
        .collect()
    )
    model = frame[MODEL_FACTOR.column].to_numpy()
    rho = {c: spearman(frame[c].cast(pl.Float64).to_numpy(), model) for c in [*heuristic, HEURISTIC]}
    shown = frame.select(HEURISTIC, MODEL_FACTOR.column)
    if shown.height > SCATTER_POINTS:
        shown = shown.sample(SCATTER_POINTS, seed=0)
    return Validity(
        n=frame.height,
        heuristic=shown[HEURISTIC].to_list(),
        model=shown[MODEL_FACTOR.column].to_list(),
        spearman=rho,
    )


def correlation(scores: pl.LazyFrame, columns: list[str]) -> list[list[float]]:
    """Pearson correlation matrix of ``columns`` in one pass (NaN for constant columns)."""
    exprs = [pl.corr(a, b).alias(f"{i}|{j}") for i, a in enumerate(columns) for j, b in enumerate(columns) if j > i]
    row = (
        scores.select(pl.col(c).cast(pl.Float64) for c in columns).select(exprs).collect().row(0, named=True)
        if exprs
        else {}
    )
    out = [[1.0] * len(columns) for _ in columns]
    for key, value in row.items():
        i, j = map(int, key.split("|"))
        v = math.nan if value is None else float(value)
        out[i][j] = out[j][i] = v
    return out


def _range_bins(scores: pl.LazyFrame, column: str) -> Bins:
    lo, hi = scores.select(pl.col(column).min().alias("lo"), pl.col(column).max().alias("hi")).collect().row(0)
    lo = min(0.0, float(lo)) if lo is not None else 0.0
    hi = max(1.0, float(hi)) if hi is not None else 1.0
    return histogram(scores.select(pl.col(column).cast(pl.Float64).alias(SCORE_COLUMN)), lo, hi, FACTOR_BINS)


def scores_view(path: Path, config: DataConfig) -> ScoresView:
    """Read a scores Parquet (lazily, columns only) and compute the section's numbers."""
    scores = pl.scan_parquet(path)
    names = scores.collect_schema().names()
    missing = [c for c in (*FACTOR_COLUMNS, SCORE_COLUMN, "task_type", "sample_type") if c not in names]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}; is it a `pixelis score` output?")
    cfg = _with_model(config.score, names)
    weights = composite_weights(cfg)
    factors = [c for c in factor_columns(cfg) if c in names]  # all built-ins: checked above
    series = scores.select(SCORE_COLUMN).collect()[SCORE_COLUMN].drop_nulls()
    if series.len() == 0:
        raise ReportInputError(f"{path}: no scored samples (0 rows with a {SCORE_COLUMN})")
    thresholds = compute_thresholds(series, config.split)
    cats = scores.select(category_expr(pl.col(SCORE_COLUMN), thresholds).alias("c")).group_by("c").len().collect()
    counts = dict(cats.iter_rows())
    return ScoresView(
        path=path,
        n=series.len(),
        factors=factors,
        weights={c: weights.get(c, 0.0) for c in factors},
        clip=(config.score.clip_min, config.score.clip_max),
        score_bins=histogram(scores, config.score.clip_min, config.score.clip_max, SCORE_BINS),
        thresholds=thresholds,
        category_counts={c: int(counts.get(c, 0)) for c in CATEGORIES},
        summary=factor_summary(scores, [*factors, SCORE_COLUMN]),
        factor_bins={f: _range_bins(scores, f) for f in factors},
        by_task=mean_by(scores, "task_type"),
        by_sample=mean_by(scores, "sample_type"),
        correlation=correlation(scores, [*factors, SCORE_COLUMN]),
        validity=validity(scores, cfg, factors) if MODEL_FACTOR.column in names else None,
    )
