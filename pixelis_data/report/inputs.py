"""What a data report was pointed at: a scores Parquet or a split directory (runs: ``pixelis_train.report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_data.schema import SCORE_COLUMN
from pixelis_data.split.manifest import MANIFEST, read_manifest

ReportKind = Literal["scores", "split"]


class ReportInputError(ValueError):
    """A path the report cannot use; the message names the path and what was expected."""


def detect_kind(path: Path) -> ReportKind:
    """``scores`` for a Parquet with difficulty_score, ``split`` for a directory with a split manifest;
    anything else raises :class:`ReportInputError`."""
    if not path.exists():
        raise ReportInputError(f"{path}: no such file or directory")
    if path.is_dir():
        if read_manifest(path) is not None:
            return "split"
        if (path / MANIFEST).exists():
            raise ReportInputError(f"{path}/{MANIFEST}: not a pixelis split manifest (unreadable or another kind)")
        raise ReportInputError(f"{path}: a directory without {MANIFEST} (not a `pixelis split` output)")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as err:
        raise ReportInputError(
            f"{path}: not a scores Parquet ({str(err).splitlines()[0]}); expected a `pixelis score` output or "
            "a split directory"
        ) from None
    if SCORE_COLUMN not in names:
        raise ReportInputError(
            f"{path}: a Parquet file without a {SCORE_COLUMN} column; run `pixelis score` on it first"
        )
    return "scores"
