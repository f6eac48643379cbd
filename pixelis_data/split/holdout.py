"""The held-out eval set: stable per sample_id, stratified per category (docs/design.md §5).

Rule (categories are decided on all scores first; ``rank`` orders a category by hash, ties, which only
duplicate ids can produce, by input position):

* fraction mode: a sample is eval when ``u(hash) < eval_fraction`` (``u`` = top 53 bits / 2**53).
  That depends on the sample's own id only, so appending data never moves a held-out sample back into
  training and never changes which of the old samples are held out. Two guarantees bend it, and only
  in small categories: a category with no hash under the cut-off gets its ``min_eval_per_category``
  smallest hashes (a top-up, which can change when samples are appended), and a category never gives
  its last sample to eval (so no training file is emptied by the hold-out).
* per-category mode: the ``eval_per_category`` smallest hashes of each category (at most n - 1). Stable
  under appending only while those stay the smallest: an appended sample with a smaller hash takes a
  place, and the displaced sample returns to training.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pixelis_data.split.config import SplitConfig

CATEGORY = "category"
HASH = "_split_hash"
UNIT = "_split_u"
IS_EVAL = "_split_is_eval"


@dataclass(frozen=True)
class HoldoutStat:
    """Eval selection of one category."""

    category: str
    n: int
    n_under_cutoff: int
    """Fraction mode: samples whose hash fell under the cut-off; per-category mode: 0."""
    n_eval: int

    @property
    def n_train(self) -> int:
        return self.n - self.n_eval


def eval_quota(cfg: SplitConfig) -> pl.Expr:
    """Number of eval samples of each row's category, as a window expression over ``category``."""
    n = pl.len().over(CATEGORY).cast(pl.Int64)
    if cfg.eval_per_category is not None:
        wanted = pl.lit(cfg.eval_per_category, dtype=pl.Int64)
    else:
        under = (pl.col(UNIT) < cfg.eval_fraction).sum().over(CATEGORY).cast(pl.Int64)
        floor = cfg.min_eval_per_category if cfg.eval_fraction > 0 else 0
        wanted = pl.max_horizontal(under, pl.lit(floor, dtype=pl.Int64))
    return pl.min_horizontal(wanted, n - 1)


def mark_eval(plan: pl.DataFrame, cfg: SplitConfig) -> pl.DataFrame:
    """Add the boolean ``IS_EVAL`` column to a frame with ``CATEGORY``, ``HASH`` and ``UNIT``."""
    rank = pl.col(HASH).rank("ordinal").over(CATEGORY).cast(pl.Int64) - 1
    return plan.with_columns((rank < eval_quota(cfg)).alias(IS_EVAL))


def holdout_stats(plan: pl.DataFrame, cfg: SplitConfig, categories: tuple[str, ...]) -> list[HoldoutStat]:
    """Per-category sizes of the eval selection (every category listed, empty ones too)."""
    fraction = cfg.eval_fraction if cfg.eval_per_category is None else -1.0
    agg = (
        plan.group_by(CATEGORY)
        .agg(
            pl.len().alias("n"),
            (pl.col(UNIT) < fraction).sum().alias("under"),
            pl.col(IS_EVAL).sum().alias("eval"),
        )
        .rows_by_key(CATEGORY, unique=True, named=True)
    )
    out = []
    for cat in categories:
        row = agg.get(cat, {"n": 0, "under": 0, "eval": 0})
        out.append(HoldoutStat(cat, int(row["n"]), int(row["under"]), int(row["eval"])))
    return out
