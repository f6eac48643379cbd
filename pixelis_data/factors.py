"""The five difficulty factors of docs/design.md §4, and the per-sample counts they share, as ``pl.Expr`` functions.

The count functions read the canonical ``trajectory`` (list of {action, thought, parameters, result});
``score_frame`` computes each count once as a column. A factor function takes its config section and
those count columns as expressions (which ones is declared in ``pixelis_data/factor_registry.py``), plus
``task_type`` / ``sample_type`` where it needs them; every constant comes from the config section.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # config imports the registry, which imports this module: annotations only
    from pixelis_data.config import (
        ErrorPatternConfig,
        OperationConfig,
        ReasoningConfig,
        TaskConfig,
        TrajectoryComplexityConfig,
    )

TRAJ = pl.col("trajectory")
ACTION = pl.element().struct.field("action")


def actions() -> pl.Expr:
    """The list of (canonical) action names."""
    return TRAJ.list.eval(ACTION)


def n_steps() -> pl.Expr:
    """L: the number of steps (0 for an empty trajectory)."""
    return TRAJ.list.len().fill_null(0)


def known_actions(ops: OperationConfig) -> pl.Expr:
    """The sequence of actions that are in the complexity table, in order."""
    return TRAJ.list.eval(ACTION.filter(ACTION.is_in(list(ops.complexity))))


def n_known(ops: OperationConfig) -> pl.Expr:
    """Number of steps whose action is in the complexity table."""
    return TRAJ.list.eval(ACTION.is_in(list(ops.complexity))).list.sum().fill_null(0)


def n_unique_known(ops: OperationConfig) -> pl.Expr:
    """Number of distinct known operations."""
    return known_actions(ops).list.n_unique().fill_null(0)


def known_weight_sum(ops: OperationConfig) -> pl.Expr:
    """Sum of the complexity weights of the known steps."""
    weight = ACTION.replace_strict(ops.complexity, default=0.0, return_dtype=pl.Float64)
    return TRAJ.list.eval(weight).list.sum().fill_null(0.0)


def n_think(reasoning: ReasoningConfig) -> pl.Expr:
    """Number of reasoning (THINK) steps."""
    return actions().list.count_matches(reasoning.think_action).fill_null(0)


def trajectory_complexity(cfg: TrajectoryComplexityConfig, steps: pl.Expr) -> pl.Expr:
    """short_score when L < min_steps, else min(1, ln(L+1) / ln(saturation_steps+1)); ``steps`` is L."""
    length = steps.cast(pl.Float64)
    curve = ((length + 1).log() / math.log(cfg.saturation_steps + 1)).clip(upper_bound=1.0)
    return pl.when(length < cfg.min_steps).then(pl.lit(cfg.short_score)).otherwise(curve)


def operation_sophistication(ops: OperationConfig, known: pl.Expr, unique: pl.Expr, weight_sum: pl.Expr) -> pl.Expr:
    """min(1, sum(w) / (n_known * max_w) + unique_bonus * n_unique / n_known); no_known_score without known ops."""
    n = known.cast(pl.Float64)
    u = unique.cast(pl.Float64)
    max_w = max(ops.complexity.values())
    score = (weight_sum / (n * max_w) + ops.unique_bonus * u / n).clip(upper_bound=1.0)
    return pl.when(n == 0).then(pl.lit(ops.no_known_score)).otherwise(score)


def reasoning_depth(cfg: ReasoningConfig, steps: pl.Expr, think: pl.Expr) -> pl.Expr:
    """0 for no steps; with r = n_THINK / L: 1 in [low, high], r / low below, a linear penalty above."""
    length = steps.cast(pl.Float64)
    ratio = think.cast(pl.Float64) / length
    return (
        pl.when(length == 0)
        .then(0.0)
        .when(ratio < cfg.low_ratio)
        .then(ratio / cfg.low_ratio)
        .when(ratio <= cfg.high_ratio)
        .then(1.0)
        .otherwise(1.0 - (ratio - cfg.high_ratio) / cfg.over_range * cfg.over_penalty)
    )


def phrase_pattern(phrases: tuple[str, ...]) -> str:
    """Case-insensitive whole-word/phrase regex ('wait' matches 'Wait,' but not 'await' or 'waiting')."""
    alternatives = "|".join(re.escape(p.lower()).replace("'", "['’]") for p in sorted(phrases, key=len, reverse=True))
    return rf"(?i)(?:^|[^\p{{L}}\p{{N}}_])(?:{alternatives})(?:$|[^\p{{L}}\p{{N}}_])"


def has_phrase(cfg: ErrorPatternConfig) -> pl.Expr:
    """True when any step's thought contains a self-correction phrase."""
    pattern = phrase_pattern(cfg.phrases)
    return TRAJ.list.eval(pl.element().struct.field("thought").str.contains(pattern)).list.any().fill_null(False)


def _action_codes(ops: OperationConfig) -> dict[str, str]:
    """Known action -> one private-use character, so a known-action sequence is a string."""
    return {name: chr(0xF0000 + i) for i, name in enumerate(ops.complexity)}


def n_repetitions(cfg: ErrorPatternConfig, ops: OperationConfig) -> pl.Expr:
    """Positions in the known-action sequence equal to the (repetition_run - 1) known actions before them."""
    # A run of m equal known actions holds max(0, m - run + 1) such positions. Counted on the sequence as a
    # string of one character per known action (unknown ones map to ""), since a shift inside list.eval
    # runs row by row: a maximal run of length m >= run is one regex match, contributing m - (run - 1).
    codes = _action_codes(ops)
    sequence = TRAJ.list.eval(ACTION.replace_strict(codes, default="", return_dtype=pl.String)).list.join("")
    runs = "|".join(f"{re.escape(c)}{{{cfg.repetition_run},}}" for c in codes.values())
    per_run = pl.element().str.len_chars().cast(pl.Int64) - (cfg.repetition_run - 1)
    return sequence.str.extract_all(runs).list.eval(per_run).list.sum().fill_null(0)


def n_repeated_coordinates(cfg: ErrorPatternConfig) -> pl.Expr:
    """Steps of ``coordinate_action`` whose non-empty coordinates equal those of an earlier such step."""
    element = pl.element()
    # Filter first so json_path_match parses only those steps' parameters; then one elementwise pass and
    # one aggregation, each list.eval reading the list once (len - n_unique on one list, not two).
    params = TRAJ.list.eval(element.filter(cfg.coordinate_action == ACTION).struct.field("parameters"))
    coords = params.list.eval(element.str.json_path_match(f"$.{cfg.coordinate_field}").str.strip_chars())
    present = coords.list.eval(element.filter(~element.is_in(["", "[]", '""'])))
    return present.list.eval(element.len() - element.n_unique()).list.first().fill_null(0)


def error_patterns(
    cfg: ErrorPatternConfig, phrase: pl.Expr, repetitions: pl.Expr, repeated_coordinates: pl.Expr
) -> pl.Expr:
    """min(cap, phrase_score once + repetition_score * reps + repeated_coordinate_score * repeats + modifier)."""
    modifier = pl.col("sample_type").replace_strict(cfg.sample_type_modifiers, default=0.0, return_dtype=pl.Float64)
    total = (
        pl.when(phrase).then(cfg.phrase_score).otherwise(0.0)
        + repetitions.cast(pl.Float64) * cfg.repetition_score
        + repeated_coordinates.cast(pl.Float64) * cfg.repeated_coordinate_score
        + modifier.fill_null(0.0)
    )
    return total.clip(upper_bound=cfg.cap)


def model_difficulty(rank: pl.Expr, n: pl.Expr) -> pl.Expr:
    """(rank - 1/2) / n: the percentile rank of model_loss, ties at their average rank; null without a model score.

    ``rank`` is the 1-based average rank of the sample's ``model_loss`` among the n rows of the model-scores
    file, so the value is (samples with a lower loss + half of those with an equal loss, itself included) / n,
    in (0, 1) with mean 1/2.
    """
    return (rank - 0.5) / n.cast(pl.Float64)


def task_type_score(cfg: TaskConfig) -> pl.Expr:
    """Table lookup of task_type, case-insensitive; unknown types get the default."""
    table = {k.lower(): v for k, v in cfg.difficulty.items()}
    lookup = pl.col("task_type").str.to_lowercase().replace_strict(table, default=cfg.default, return_dtype=pl.Float64)
    return lookup.fill_null(cfg.default)
