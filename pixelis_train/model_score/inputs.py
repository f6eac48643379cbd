"""What ``pixelis model-score`` reads: a split directory (all four Arrow files) or records in any input format.

Either way the input becomes one Arrow table of canonical rows in a fixed order (split: simple, medium,
hard, eval; records: file order), so every rank and every rerun sees the same sample order. A split is
memory-mapped (zero-copy); records go through ``pixelis_data.readers.read_batches``, and what it
rejects is counted, kept for the report and written next to the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

from pixelis_data.config import ReadConfig
from pixelis_data.readers import InputError, Reject, read_batches
from pixelis_train.models import ADAPTER_WEIGHTS
from pixelis_train.stream.split_files import MANIFEST, SplitDirError, open_arrow, read_manifest, sample_id_digest

SPLIT_FILES: tuple[str, ...] = ("simple", "medium", "hard", "eval")
# The fields the chat formatter reads; everything else stays on disk.
RECORD_COLUMNS: tuple[str, ...] = ("sample_id", "question", "images", "trajectory", "answer")


class ModelScoreError(ValueError):
    """A user error of ``pixelis model-score``: one line naming the path, field or value."""


@dataclass(frozen=True)
class ScoreInput:
    """The samples to score, in their fixed order, and what the reader rejected."""

    path: Path
    kind: Literal["split", "records"]
    table: pa.Table
    """Canonical rows, the columns the chat formatter reads (``RECORD_COLUMNS``)."""
    rejects: list[Reject] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return self.table.num_rows

    def sample_ids(self) -> pl.Series:
        """``sample_id`` of every row, in order."""
        return pl.Series("sample_id", self.table.column("sample_id").combine_chunks()).cast(pl.String)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the input in a shard directory's meta.json: path, row count, digest of the ids."""
        return {
            "path": str(self.path.resolve()),
            "kind": self.kind,
            "rows": self.n_rows,
            "sample_ids_blake2b": sample_id_digest(self.table),
        }

    def records(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """The rows at ``rows`` as plain dicts (what ``ChatFormatter.format`` takes)."""
        return self.table.take(pa.array(rows, type=pa.int64())).to_pylist()


def open_input(path: Path, read_cfg: ReadConfig | None = None) -> ScoreInput:
    """A split directory or a records / scores file; raises :class:`ModelScoreError` (one line)."""
    if not path.exists():
        raise ModelScoreError(f"{path}: does not exist")
    if path.is_dir():
        return _open_split(path)
    return _open_records(path, read_cfg or ReadConfig())


def check_input(path: Path) -> None:
    """The cheap checks of :func:`open_input` (existence, a directory is a split), without reading rows."""
    if not path.exists():
        raise ModelScoreError(f"{path}: does not exist")
    if path.is_dir():
        _split_paths(path)


def check_adapter(adapter: Path | None) -> None:
    """Cheap checks of ``--adapter`` before anything is loaded."""
    if adapter is None:
        return
    if not adapter.is_dir():
        raise ModelScoreError(f"--adapter {adapter}: not a directory")
    if not (adapter / "adapter_config.json").is_file():
        raise ModelScoreError(f"--adapter {adapter}: not a PEFT adapter directory (no adapter_config.json)")
    if not any((adapter / name).is_file() for name in ADAPTER_WEIGHTS):
        raise ModelScoreError(f"--adapter {adapter}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")


def _split_paths(path: Path) -> list[Path]:
    if not (path / MANIFEST).is_file():
        raise ModelScoreError(
            f"{path}: not a split directory (no {MANIFEST}); INPUT is a `pixelis split` directory "
            "or a records / scores file"
        )
    try:
        read_manifest(path)
    except SplitDirError as err:
        raise ModelScoreError(str(err)) from None
    files = [path / f"{name}.arrow" for name in SPLIT_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ModelScoreError(f"{path}: incomplete split directory (missing {', '.join(missing)})")
    return files


def _open_split(path: Path) -> ScoreInput:
    tables = []
    for file in _split_paths(path):
        try:
            table = open_arrow(file)
        except SplitDirError as err:
            raise ModelScoreError(str(err)) from None
        absent = [c for c in RECORD_COLUMNS if c not in table.column_names]
        if absent:
            raise ModelScoreError(f"{file}: missing column(s) {', '.join(absent)}")
        tables.append(table.select(list(RECORD_COLUMNS)))
    try:
        # zero-copy when the files share a schema (pixelis split's do); string widths may differ otherwise
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as err:
        raise ModelScoreError(f"{path}: the split files do not share one schema ({err})") from None
    _check_ids(table, path)
    return ScoreInput(path, "split", table)


def _open_records(path: Path, read_cfg: ReadConfig) -> ScoreInput:
    frames, rejects = [], []
    try:
        for batch in read_batches(path, read_cfg):
            frames.append(batch.frame.select(RECORD_COLUMNS))
            rejects.extend(batch.rejects)
    except InputError as err:
        raise ModelScoreError(str(err)) from None
    frame = pl.concat(frames) if frames else pl.DataFrame()
    if not frames:
        raise ModelScoreError(f"{path}: no records")
    return ScoreInput(path, "records", frame.to_arrow(), rejects)  # the reader already rejected duplicate ids


def _check_ids(table: pa.Table, path: Path) -> None:
    ids = pl.Series(table.column("sample_id").combine_chunks())
    if ids.null_count():
        raise ModelScoreError(f"{path}: sample_id has {ids.null_count()} null value(s)")
    duplicated = ids.filter(ids.is_duplicated())
    if len(duplicated):
        raise ModelScoreError(f"{path}: sample_id {duplicated[0]!r} occurs more than once")


def pending_rows(ids: pl.Series, rank: int, world_size: int, done: pl.Series) -> np.ndarray:
    """This rank's rows still to score: indices i with i % world_size == rank whose id is not in ``done``."""
    rows = np.arange(rank, len(ids), world_size, dtype=np.int64)
    if len(done) and len(rows):
        fresh = ~ids.gather(rows).is_in(done.implode()).to_numpy()
        rows = rows[fresh]
    return rows
