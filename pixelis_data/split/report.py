"""Balance report data: counts, shares, diversity per category, ties at the thresholds, warnings.

Plain data only; ``pixelis_cli/split.py`` renders it with rich and ``manifest.json`` stores it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from pixelis_data.schema import CATEGORIES, SCORE_COLUMN
from pixelis_data.split.config import SplitConfig
from pixelis_data.split.holdout import CATEGORY, IS_EVAL, HoldoutStat
from pixelis_data.split.thresholds import Thresholds, percentile_positions, target_sizes


@dataclass(frozen=True)
class CategoryBalance:
    """One category of the split."""

    category: str
    n: int
    n_train: int
    n_eval: int
    share: float
    """Of all samples (train + eval)."""
    train_share: float
    """Of all training samples."""
    eval_share: float
    """Of all eval samples."""
    score_min: float | None
    score_max: float | None
    task_types: dict[str, int]
    """Samples per task type, most frequent first."""
    sample_types: dict[str, int]
    """Samples per sample type, most frequent first."""


@dataclass(frozen=True)
class Ties:
    """Samples exactly on a threshold, and the counts a strict (s < t) rule would have given instead."""

    at_simple: int
    at_medium: int
    strict_counts: dict[str, int]
    rule: str = "inclusive"
    """``split.ties``: inclusive (ties to the lower category) or spread (by stable hash, to the percentiles)."""


@dataclass(frozen=True)
class BalanceReport:
    """Everything the terminal report and the manifest say about the balance of a split."""

    n: int
    n_train: int
    n_eval: int
    categories: list[CategoryBalance]
    ties: Ties
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _counts(plan: pl.DataFrame, column: str, category: str) -> dict[str, int]:
    sub = plan.filter(pl.col(CATEGORY) == category)[column].value_counts(sort=True, name="n")
    # sort by count desc then name so equal counts appear in a stable order
    sub = sub.sort(["n", column], descending=[True, False])
    return {str(k): int(v) for k, v in sub.iter_rows()}


def _tie_messages(plan: pl.DataFrame, t: Thresholds, cats: list[CategoryBalance], cfg: SplitConfig) -> list[str]:
    """Warnings (inclusive rule) or notes (spread) about the samples that share a threshold's score."""
    n = plan.height
    s = pl.col(SCORE_COLUMN)
    shares = {c.category: c.share for c in cats}
    targets = target_sizes(t)
    out: list[str] = []
    points = ((t.t_simple, "simple", t.simple_percentile), (t.t_medium, "medium", t.medium_percentile))
    for (value, lower, pct), position in zip(points, percentile_positions(t), strict=True):
        if lower == "medium" and value == t.t_simple:
            continue  # the same score as t_simple: said once, for t_simple
        k, at_or_below = plan.select((s == value).sum().alias("k"), (s <= value).sum().alias("le")).row(0)
        if k < 2:
            continue
        where = "t_simple and t_medium" if value == t.t_medium and lower == "simple" else f"t_{lower}"
        head = f"{k:,} samples ({k / n:.1%}) share the score {value:.6g} on {where} (P{pct:g})"
        if cfg.ties == "spread":
            got = dict(plan.filter(s == value).group_by(CATEGORY).len().iter_rows())
            spread = ", ".join(f"{c} {got[c]:,}" for c in CATEGORIES if c in got)
            out.append(f"{head}: split.ties spread sent them by stable hash to {spread}")
        elif at_or_below - position > cfg.tie_warning_share * n:
            out.append(
                f"{head}: the inclusive rule (s <= t) puts all of them in {lower}, which holds {shares[lower]:.1%} "
                f"of the samples where the percentiles aim at {targets[lower] / n:.1%}. The score does not tell "
                "these samples apart: add model difficulty (`pixelis score --model-scores FILE`, or "
                "`pixelis split --model-scores FILE` on raw data), or set `split.ties: spread` to split ties "
                "by the stable sample hash"
            )
    return out


def _ties(plan: pl.DataFrame, t: Thresholds, rule: str) -> Ties:
    s = pl.col(SCORE_COLUMN)
    simple, medium, hard = CATEGORIES
    row = plan.select(
        (s == t.t_simple).sum().alias("at_simple"),
        ((s == t.t_medium) & (s != t.t_simple)).sum().alias("at_medium"),
        (s < t.t_simple).sum().alias(simple),
        ((s >= t.t_simple) & (s < t.t_medium)).sum().alias(medium),
        (s >= t.t_medium).sum().alias(hard),
    ).row(0, named=True)
    return Ties(
        at_simple=int(row["at_simple"]),
        at_medium=int(row["at_medium"]),
        strict_counts={c: int(row[c]) for c in CATEGORIES},
        rule=rule,
    )


def balance_report(
    plan: pl.DataFrame,
    thresholds: Thresholds,
    holdout: list[HoldoutStat],
    cfg: SplitConfig,
) -> BalanceReport:
    """Build the report from the plan frame (category, is-eval, score, task_type, sample_type per row)."""
    n = plan.height
    n_eval = int(plan[IS_EVAL].sum())
    n_train = n - n_eval
    cats: list[CategoryBalance] = []
    warnings: list[str] = []
    notes: list[str] = []
    by_cat = {h.category: h for h in holdout}
    for cat in CATEGORIES:
        h = by_cat[cat]
        scores = plan.filter(pl.col(CATEGORY) == cat)[SCORE_COLUMN]
        cats.append(
            CategoryBalance(
                category=cat,
                n=h.n,
                n_train=h.n_train,
                n_eval=h.n_eval,
                share=_share(h.n, n),
                train_share=_share(h.n_train, n_train),
                eval_share=_share(h.n_eval, n_eval),
                score_min=float(scores.min()) if h.n else None,  # type: ignore[arg-type]
                score_max=float(scores.max()) if h.n else None,  # type: ignore[arg-type]
                task_types=_counts(plan, "task_type", cat),
                sample_types=_counts(plan, "sample_type", cat),
            )
        )
    ties = _ties(plan, thresholds, cfg.ties)
    tie_messages = _tie_messages(plan, thresholds, cats, cfg)

    if n < len(CATEGORIES):
        warnings.append(f"only {n} sample(s) for {len(CATEGORIES)} categories: some categories must be empty")
    if thresholds.t_simple == thresholds.t_medium and plan[SCORE_COLUMN].n_unique() == 1:
        warnings.append(
            f"all {n} scores are equal ({thresholds.t_simple:.6g}): by the inclusive rule (s <= t_simple) "
            "every sample is simple; medium and hard are empty"
            if cfg.ties == "inclusive"
            else f"all {n} scores are equal ({thresholds.t_simple:.6g}): split.ties spread cut them by hash alone, "
            "so the categories say nothing about difficulty"
        )
    for c in cats:
        h = by_cat[c.category]
        if c.n == 0:
            warnings.append(f"{c.category}: no samples; {c.category}.arrow is written with 0 rows")
            continue
        if c.share < cfg.min_category_share:
            warnings.append(f"{c.category}: {c.share:.1%} of samples, under the {cfg.min_category_share:.0%} minimum")
        if len(c.task_types) < cfg.min_task_types:
            warnings.append(
                f"{c.category}: {len(c.task_types)} task type(s) ({', '.join(c.task_types)}), "
                f"fewer than {cfg.min_task_types}"
            )
        if c.n == 1:
            warnings.append(f"{c.category}: a single sample, kept for training; eval has none of this category")
        elif cfg.eval_per_category is not None and h.n_eval < cfg.eval_per_category:
            warnings.append(
                f"{c.category}: {h.n_eval} eval sample(s) instead of {cfg.eval_per_category} "
                f"(only {c.n} samples; one stays in training)"
            )
        elif cfg.eval_per_category is None and cfg.eval_fraction > 0:
            if h.n_eval == 0:
                warnings.append(
                    f"{c.category}: no eval sample (no hash under the cut-off and min_eval_per_category is 0)"
                )
            elif h.n_under_cutoff == c.n:
                notes.append(f"{c.category}: every hash fell under the eval cut-off; the largest stays in training")
            elif h.n_eval > h.n_under_cutoff:
                notes.append(
                    f"{c.category}: {h.n_under_cutoff} hash(es) under the eval cut-off; topped up to "
                    f"{h.n_eval} by smallest hash (these may change when data is appended)"
                )
    if n_eval == 0:
        warnings.append("eval.arrow is empty: no sample was held out")
    (notes if cfg.ties == "spread" else warnings).extend(tie_messages)
    return BalanceReport(n, n_train, n_eval, cats, ties, warnings, notes)
