"""First pass: read the few columns the decisions need, validate them, and decide every row's file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_data.schema import CATEGORIES, SCORE_COLUMN
from pixelis_data.split.config import SplitConfig
from pixelis_data.split.hashing import TIE_SALT, hash_sample_ids, unit_interval
from pixelis_data.split.holdout import CATEGORY, HASH, IS_EVAL, UNIT, HoldoutStat, holdout_stats, mark_eval
from pixelis_data.split.report import BalanceReport, balance_report
from pixelis_data.split.thresholds import Thresholds, category_expr, compute_thresholds, spread_category_expr

# What the training stream reads from every split file (besides what the input carries on).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "task_type",
    "sample_type",
    "question",
    "images",
    "trajectory",
    "answer",
    "sampling_weight",
    SCORE_COLUMN,
)


class SplitError(ValueError):
    """Input or output the split cannot work with; the message is one line naming the file and value."""


@dataclass(frozen=True)
class SplitPlan:
    """Where every input row goes, and why."""

    n: int
    thresholds: Thresholds
    holdout: list[HoldoutStat]
    report: BalanceReport
    destinations: np.ndarray
    """int8 per input row: 0-2 training simple/medium/hard, 3-5 eval of simple/medium/hard."""
    columns: list[str]
    """Input columns, in file order."""


def _examples(frame: pl.DataFrame, mask: pl.Expr) -> str:
    ids = frame.filter(mask)["sample_id"].unique(maintain_order=True).head(3).to_list()
    return ", ".join(repr(i) for i in ids)


def read_decision_columns(scores_path: Path) -> tuple[pl.DataFrame, list[str]]:
    """sample_id, difficulty_score (Float64), task_type, sample_type of a scores Parquet, validated."""
    try:
        schema = pq.read_schema(scores_path)
    except (pa.ArrowException, OSError) as err:
        raise SplitError(f"{scores_path}: not a readable Parquet file ({err})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        hint = " (run `pixelis score` first, or pass the raw data)" if SCORE_COLUMN in missing else ""
        raise SplitError(f"{scores_path}: missing column(s) {', '.join(missing)}{hint}")
    score_type = schema.field(SCORE_COLUMN).type
    if not (pa.types.is_floating(score_type) or pa.types.is_integer(score_type)):
        raise SplitError(f"{scores_path}: {SCORE_COLUMN} must be numeric (got {score_type})")
    frame = (
        pl.scan_parquet(scores_path)
        .select(
            pl.col("sample_id").cast(pl.String),
            pl.col(SCORE_COLUMN).cast(pl.Float64),
            pl.col("task_type").cast(pl.String),
            pl.col("sample_type").cast(pl.String),
        )
        .collect()
    )
    if frame.height == 0:
        raise SplitError(f"{scores_path}: no samples to split (the input is empty)")
    problems = []
    null_ids = pl.col("sample_id").is_null()
    if n := frame.select(null_ids.sum()).item():
        problems.append(f"{n} row(s) without sample_id")
    bad_score = pl.col(SCORE_COLUMN).is_null() | ~pl.col(SCORE_COLUMN).is_finite()
    if n := frame.select(bad_score.sum()).item():
        problems.append(f"{n} row(s) with a null, NaN or infinite {SCORE_COLUMN} (e.g. {_examples(frame, bad_score)})")
    duplicated = pl.col("sample_id").is_duplicated() & pl.col("sample_id").is_not_null()
    if n := frame.select(duplicated.sum()).item():
        # ids name samples in eval reports and resumable streams; `pixelis score` rejects duplicates too
        problems.append(f"{n} row(s) share a sample_id with another row (e.g. {_examples(frame, duplicated)})")
    if problems:
        raise SplitError(f"{scores_path}: " + "; ".join(problems))
    return frame, schema.names


def categories_expr(frame: pl.DataFrame, thresholds: Thresholds, cfg: SplitConfig) -> pl.Expr:
    """Every row's category: the inclusive rule, or with ``ties: spread`` its place in the (score, hash) order."""
    if cfg.ties == "inclusive":
        return category_expr(pl.col(SCORE_COLUMN), thresholds).alias(CATEGORY)
    hashes = hash_sample_ids(frame["sample_id"], TIE_SALT)
    # lexsort sorts by the last key first: score, then the stable hash (ids are unique, so hashes differ)
    order = np.lexsort((hashes, frame[SCORE_COLUMN].to_numpy()))
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order), dtype=np.int64)
    return spread_category_expr(pl.lit(pl.Series(position)), thresholds).alias(CATEGORY)


def plan_split(scores_path: Path, cfg: SplitConfig) -> SplitPlan:
    """Thresholds on all scores, categories, then the eval hold-out per category (docs/design.md §5)."""
    frame, columns = read_decision_columns(scores_path)
    thresholds = compute_thresholds(frame[SCORE_COLUMN], cfg)
    hashes = hash_sample_ids(frame["sample_id"], cfg.eval_salt)
    plan = frame.with_columns(
        categories_expr(frame, thresholds, cfg),
        pl.Series(HASH, hashes),
        pl.Series(UNIT, unit_interval(hashes)),
    )
    plan = mark_eval(plan, cfg)
    stats = holdout_stats(plan, cfg, CATEGORIES)
    report = balance_report(plan, thresholds, stats, cfg)
    if CATEGORY in columns:
        report.warnings.append(f"the input's own {CATEGORY!r} column is replaced by the split's categories")
    code = pl.col(CATEGORY).replace_strict(list(CATEGORIES), list(range(len(CATEGORIES))), return_dtype=pl.Int8)
    destinations = plan.select(code + pl.col(IS_EVAL).cast(pl.Int8) * len(CATEGORIES)).to_series().to_numpy()
    return SplitPlan(plan.height, thresholds, stats, report, destinations, columns)
