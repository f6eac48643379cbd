"""Summary numbers of a scores file, shared by the terminal report of `pixelis score` and `pixelis report`."""

from __future__ import annotations

import polars as pl

from pixelis_data.schema import SCORE_COLUMN

HIST_BINS = 10


def factor_summary(scores: pl.LazyFrame, columns: list[str]) -> pl.DataFrame:
    """mean / p10 / p50 / p90 of each column (linear interpolation)."""
    stats = []
    for c in columns:
        col = pl.col(c)
        stats += [col.mean().alias(f"{c}|mean")] + [
            col.quantile(q, interpolation="linear").alias(f"{c}|p{int(q * 100)}") for q in (0.1, 0.5, 0.9)
        ]
    row = scores.select(stats).collect().row(0, named=True)
    return pl.DataFrame(
        {"factor": columns, **{s: [row[f"{c}|{s}"] for c in columns] for s in ("mean", "p10", "p50", "p90")}}
    )


def histogram(scores: pl.LazyFrame, lo: float, hi: float, bins: int = HIST_BINS) -> list[tuple[float, float, int]]:
    """Counts of difficulty_score in ``bins`` equal bins over [lo, hi] (the last bin closed)."""
    width = (hi - lo) / bins if hi > lo else 1.0
    idx = ((pl.col(SCORE_COLUMN) - lo) / width).floor().clip(0, bins - 1).cast(pl.Int32)
    counts = dict(scores.select(idx.alias("b")).group_by("b").len().collect().iter_rows())
    return [(lo + i * width, lo + (i + 1) * width, counts.get(i, 0)) for i in range(bins)]


def mean_by(scores: pl.LazyFrame, key: str) -> pl.DataFrame:
    """Samples (``n``) and mean difficulty (``mean``) per value of ``key``, sorted by it."""
    return scores.group_by(key).agg(pl.len().alias("n"), pl.col(SCORE_COLUMN).mean().alias("mean")).sort(key).collect()
