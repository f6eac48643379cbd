"""The numbers behind the split section, taken from ``manifest.json`` (what `pixelis split` printed) and,
for what only the rows know (eval composition, score distribution per category), from the Arrow files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from pixelis_data.report.inputs import ReportInputError
from pixelis_data.schema import CATEGORIES, SCORE_COLUMN
from pixelis_data.split.manifest import read_manifest

EVAL = "eval"


@dataclass(frozen=True)
class SplitView:
    """Everything the split section shows."""

    path: Path
    manifest: dict[str, Any]
    categories: list[dict[str, Any]]
    """``manifest.balance.categories``: n, n_train, n_eval, shares, score range, task/sample type counts."""
    thresholds: tuple[float, float]
    percentiles: tuple[float, float]
    warnings: list[str]
    eval_rows: pl.DataFrame
    """category, task_type, sample_type, difficulty_score of every eval.arrow row."""
    scores: pl.DataFrame
    """category, difficulty_score, is_eval of every sample (train files + eval)."""


def _read(path: Path, columns: list[str]) -> pl.DataFrame:
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all().select(columns)  # zero-copy
    except (OSError, KeyError, pa.ArrowException) as err:
        raise ReportInputError(f"{path}: not a readable split file ({str(err).splitlines()[0]})") from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # from_arrow of a Table is always a DataFrame (for the type checker)
    return frame


def type_matrix(categories: list[dict[str, Any]], key: str) -> tuple[list[str], list[list[int]]]:
    """(type names, counts[type][category]) from the manifest's per-category ``task_types``/``sample_types``."""
    names = sorted({name for c in categories for name in c[key]})
    return names, [[int(c[key].get(name, 0)) for c in categories] for name in names]


def split_view(path: Path) -> SplitView:
    """Read the manifest and the few columns the figures need."""
    manifest = read_manifest(path)
    if manifest is None:
        raise ReportInputError(f"{path}: no pixelis split manifest.json (an unfinished or foreign directory)")
    categories = manifest["balance"]["categories"]
    frames = []
    for name in (*CATEGORIES, EVAL):
        file = path / manifest["files"][name]["path"]
        rows = _read(file, ["category", "task_type", "sample_type", SCORE_COLUMN])
        if rows.height != manifest["counts"][name]:
            raise ReportInputError(
                f"{file}: {rows.height} rows but the manifest says {manifest['counts'][name]}; re-run `pixelis split`"
            )
        frames.append(rows.with_columns(pl.lit(name == EVAL).alias("is_eval")))
    everything = pl.concat(frames, how="vertical_relaxed")
    return SplitView(
        path=path,
        manifest=manifest,
        categories=categories,
        thresholds=(float(manifest["thresholds"]["simple"]), float(manifest["thresholds"]["medium"])),
        percentiles=(float(manifest["percentiles"]["simple"]), float(manifest["percentiles"]["medium"])),
        warnings=list(manifest.get("warnings") or []),
        eval_rows=everything.filter(pl.col("is_eval")).drop("is_eval"),
        scores=everything.select("category", SCORE_COLUMN, "is_eval"),
    )
