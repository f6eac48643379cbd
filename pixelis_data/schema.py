"""The canonical record (docs/design.md §3) as a Polars schema, and the columns `pixelis score` adds to it."""

from __future__ import annotations

import polars as pl

from pixelis_data.factor_registry import FACTORS

STEP = pl.Struct(
    {
        "action": pl.String,  # normalised: upper-case canonical name when known, else as given
        "thought": pl.String,
        "parameters": pl.String,  # JSON text, so nothing is lost
        "result": pl.String,  # JSON text or plain observation text
    }
)

CANONICAL_SCHEMA = pl.Schema(
    {
        "sample_id": pl.String,
        "task_type": pl.String,
        "sample_type": pl.String,
        "question": pl.String,
        "images": pl.List(pl.String),
        "trajectory": pl.List(STEP),
        "answer": pl.String,
        "ground_truth": pl.String,
        "sampling_weight": pl.Float64,
        "source_format": pl.String,
        "extra": pl.String,
    }
)

CANONICAL_COLUMNS: tuple[str, ...] = tuple(CANONICAL_SCHEMA.names())

SAMPLE_TYPES: tuple[str, ...] = (
    "positive",
    "outcome_negative",
    "trap_perceptual",
    "trap_logical",
    "self_correction",
)

TASK_TYPES: tuple[str, ...] = (
    "temporal_tracking",
    "geometric_comparison",
    "spatial_reasoning",
    "relationship_detection",
    "attribute_recognition",
    "object_counting",
    "text_extraction",
)

# Columns `pixelis score` adds to the canonical record (docs/design.md §4): the built-in factors (in registry
# order), difficulty_score, then the diagnostics.
FACTOR_COLUMNS: tuple[str, ...] = tuple(FACTORS)
DIAGNOSTIC_SCHEMA = pl.Schema(
    {
        "n_steps": pl.UInt32,
        "n_known_ops": pl.UInt32,
        "n_unique_ops": pl.UInt32,
        "n_think": pl.UInt32,
        "n_repetitions": pl.UInt32,
        "has_self_correction": pl.Boolean,
        "has_backtracking": pl.Boolean,
        "n_unknown_ops": pl.UInt32,
    }
)
SCORE_COLUMN = "difficulty_score"
CATEGORIES: tuple[str, ...] = ("simple", "medium", "hard")


def empty_canonical() -> pl.DataFrame:
    """A zero-row frame with the canonical schema."""
    return pl.DataFrame(schema=CANONICAL_SCHEMA)
