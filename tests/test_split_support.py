"""Builders shared by the split tests: scores Parquet files with the canonical schema + score columns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from pixelis_data.schema import (
    CANONICAL_SCHEMA,
    DIAGNOSTIC_SCHEMA,
    FACTOR_COLUMNS,
    SAMPLE_TYPES,
    SCORE_COLUMN,
    TASK_TYPES,
)


def scores_frame(
    scores: Sequence[float],
    ids: Sequence[str] | None = None,
    *,
    seed: int = 0,
    task_types: Sequence[str] = TASK_TYPES,
) -> pl.DataFrame:
    """A frame shaped like `pixelis score` output, with the given difficulty scores."""
    n = len(scores)
    rng = np.random.default_rng(seed)
    ids = list(ids) if ids is not None else [f"s{i:06d}" for i in range(n)]
    steps = rng.integers(0, 5, n)
    data = {
        "sample_id": ids,
        "task_type": [task_types[i] for i in rng.integers(0, len(task_types), n)],
        "sample_type": [SAMPLE_TYPES[i] for i in rng.integers(0, len(SAMPLE_TYPES), n)],
        "question": [f"question {i}?" for i in range(n)],
        "images": [[f"img/{i}.png"] for i in range(n)],
        "trajectory": [
            [{"action": "ZOOM_IN", "thought": f"look {j}", "parameters": "{}", "result": "ok"} for j in range(k)]
            for k in steps
        ],
        "answer": [f"answer {i}" for i in range(n)],
        "ground_truth": [None if i % 3 else f"gt {i}" for i in range(n)],
        "sampling_weight": [1.0 + (i % 3) * 0.25 for i in range(n)],
        "source_format": ["pixelis"] * n,
        "extra": ["{}"] * n,
    }
    frame = pl.DataFrame(data, schema=CANONICAL_SCHEMA)
    factors = {name: pl.Series(name, rng.random(n)) for name in FACTOR_COLUMNS}
    diagnostics = [pl.lit(0, dtype=dtype).alias(name) for name, dtype in DIAGNOSTIC_SCHEMA.items()]
    return frame.with_columns(*factors.values(), *diagnostics, pl.Series(SCORE_COLUMN, list(scores), dtype=pl.Float64))


def write_scores(path: Path, frame: pl.DataFrame) -> Path:
    frame.write_parquet(path)
    return path
