"""Category thresholds of docs/design.md §5: IQR-filtered, linearly interpolated percentiles, inclusive bounds.

The percentile is numpy's default ``linear`` method reproduced operation for operation (virtual index
``(n - 1) * q``, then numpy's two-sided lerp), because Polars' ``quantile(interpolation="linear")``
can differ from numpy in the last bit, and one ulp decides the category of a sample sitting exactly
on a threshold.

Ties: with ``split.ties: inclusive`` (the default) every sample on a threshold goes to the lower category.
With ``spread`` samples are ordered by (score, stable hash of sample_id) and the first ``c_simple`` of that
order are simple, the next up to ``c_medium`` medium, the rest hard, where ``c`` is the number of samples
at or below the percentile's own position: ``n_low + floor((m - 1) q) + 1`` (m kept scores, n_low low
outliers, q = percentile / 100). Without ties on a threshold this is exactly the inclusive count, so only
the samples sitting on a threshold can move; with ties each category's size is within 1 of its target
``T_simple = n_low + (m - 1) q_simple + 1``, ``T_medium - T_simple``, ``n - T_medium``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from pixelis_data.schema import CATEGORIES
from pixelis_data.split.config import SplitConfig


def linear_percentile(sorted_values: pl.Series, q: float) -> float:
    """numpy's default (``linear``) quantile ``q`` in [0, 1] of an ascending, non-empty, NaN-free series."""
    n = len(sorted_values)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return float(sorted_values[n - 1])
    if virtual < 0:
        return float(sorted_values[0])
    below = math.floor(virtual)
    gamma = virtual - below
    a = float(sorted_values[below])
    b = float(sorted_values[below + 1])
    diff = b - a
    # numpy interpolates from the nearer end: exact at both ends and monotone in gamma.
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


@dataclass(frozen=True)
class Thresholds:
    """Where the categories start and end, and how the IQR filter shaped them."""

    t_simple: float
    t_medium: float
    simple_percentile: float
    medium_percentile: float
    q1: float
    q3: float
    iqr: float
    iqr_multiplier: float
    lower: float
    upper: float
    n_scores: int
    n_kept: int
    n_outliers_low: int
    n_outliers_high: int
    used_all: bool
    """True when the IQR filter kept nothing (possible with a small multiplier) and every score was used."""

    @property
    def n_outliers(self) -> int:
        return self.n_outliers_low + self.n_outliers_high

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (infinite bounds become strings, which JSON cannot hold as numbers)."""
        out: dict[str, Any] = asdict(self)
        out["n_outliers"] = self.n_outliers
        return {k: (str(v) if isinstance(v, float) and math.isinf(v) else v) for k, v in out.items()}


def compute_thresholds(scores: pl.Series, cfg: SplitConfig) -> Thresholds:
    """Thresholds of docs/design.md §5 on ``scores`` (finite, non-empty)."""
    if scores.len() == 0:
        raise ValueError("no scores: cannot compute thresholds of an empty input")
    ordered = scores.cast(pl.Float64).sort()
    q1 = linear_percentile(ordered, 0.25)
    q3 = linear_percentile(ordered, 0.75)
    iqr = q3 - q1
    k = cfg.iqr_multiplier
    # k = inf with iqr = 0 would give inf * 0 = nan; an infinite multiplier means "no filter".
    lower = -math.inf if math.isinf(k) else q1 - k * iqr
    upper = math.inf if math.isinf(k) else q3 + k * iqr
    kept = ordered.filter((ordered >= lower) & (ordered <= upper))
    used_all = kept.len() == 0
    if used_all:
        kept = ordered
    n_low = int((ordered < lower).sum())
    n_high = int((ordered > upper).sum())
    return Thresholds(
        t_simple=linear_percentile(kept, cfg.simple_percentile / 100),
        t_medium=linear_percentile(kept, cfg.medium_percentile / 100),
        simple_percentile=cfg.simple_percentile,
        medium_percentile=cfg.medium_percentile,
        q1=q1,
        q3=q3,
        iqr=iqr,
        iqr_multiplier=k,
        lower=lower,
        upper=upper,
        n_scores=ordered.len(),
        n_kept=kept.len(),
        n_outliers_low=n_low,
        n_outliers_high=n_high,
        used_all=used_all,
    )


def _low_outliers(t: Thresholds) -> int:
    """Low outliers before the kept scores in the order (none when everything was used)."""
    return 0 if t.used_all else t.n_outliers_low


def percentile_positions(t: Thresholds) -> tuple[float, float]:
    """(T_simple, T_medium): how many samples lie at or below each percentile's virtual position, fractional."""
    m = t.n_kept
    return tuple(  # type: ignore[return-value]
        _low_outliers(t) + (m - 1) * (p / 100) + 1 for p in (t.simple_percentile, t.medium_percentile)
    )


def spread_cuts(t: Thresholds) -> tuple[int, int]:
    """(c_simple, c_medium): samples of the (score, hash) order that are simple, and simple or medium."""
    m = t.n_kept
    # the virtual index exactly as linear_percentile computes it, so the cut lands on the threshold's rank
    return tuple(  # type: ignore[return-value]
        _low_outliers(t) + min(math.floor((m - 1) * (p / 100)), m - 1) + 1
        for p in (t.simple_percentile, t.medium_percentile)
    )


def target_sizes(t: Thresholds) -> dict[str, float]:
    """The category sizes the percentiles aim at: T_simple, T_medium - T_simple, n - T_medium."""
    low, high = percentile_positions(t)
    return dict(zip(CATEGORIES, (low, high - low, t.n_scores - high), strict=True))


def spread_category_expr(order: pl.Expr, thresholds: Thresholds) -> pl.Expr:
    """``split.ties: spread``: the category from a sample's 0-based position in the (score, hash) order."""
    simple, medium, hard = CATEGORIES
    c_simple, c_medium = spread_cuts(thresholds)
    return (
        pl.when(order < c_simple)
        .then(pl.lit(simple))
        .when(order < c_medium)
        .then(pl.lit(medium))
        .otherwise(pl.lit(hard))
    )


def category_expr(score: pl.Expr, thresholds: Thresholds) -> pl.Expr:
    """``simple`` if s <= t_simple, ``medium`` if s <= t_medium, else ``hard`` (every sample, outliers too)."""
    simple, medium, hard = CATEGORIES
    return (
        pl.when(score <= thresholds.t_simple)
        .then(pl.lit(simple))
        .when(score <= thresholds.t_medium)
        .then(pl.lit(medium))
        .otherwise(pl.lit(hard))
    )
