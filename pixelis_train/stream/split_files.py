"""Open a ``pixelis split`` directory: validate the manifest, memory-map the Arrow files, check weights.

Nothing here loads rows into memory: the category files are memory-mapped Arrow IPC files, and the
only per-row arrays ever materialised are the ``sampling_weight`` column (when a permutation is built)
and a streaming hash of ``sample_id`` (once, for the resume fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pixelis_data.schema import CATEGORIES

MANIFEST = "manifest.json"
EVAL = "eval"
SUPPORTED_FORMAT_VERSIONS: tuple[int, ...] = (1,)
WEIGHT_COLUMN = "sampling_weight"
ID_COLUMN = "sample_id"
CATEGORY_COLUMN = "category"


class SplitDirError(ValueError):
    """A split directory the stream cannot use; the message names the file and what is wrong."""


def open_arrow(path: Path) -> pa.Table:
    """Memory-map an Arrow IPC file; the table's buffers point into the mapping (zero-copy)."""
    try:
        return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    except (OSError, pa.ArrowInvalid) as err:
        raise SplitDirError(f"{path}: not a readable Arrow IPC file ({err})") from None


def read_manifest(split_dir: Path) -> dict[str, Any]:
    """The validated ``manifest.json`` of ``split_dir``."""
    if not split_dir.is_dir():
        raise SplitDirError(f"{split_dir}: split directory does not exist (run `pixelis split` first)")
    path = split_dir / MANIFEST
    if not path.is_file():
        raise SplitDirError(f"{path}: missing; the split directory is incomplete (manifest.json is written last)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SplitDirError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise SplitDirError(f"{path}: must hold a JSON object (got {type(manifest).__name__})")
    version = manifest.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_FORMAT_VERSIONS))
        raise SplitDirError(
            f"{path}: format_version {version!r} (pixelis_version {manifest.get('pixelis_version')!r}) "
            f"is not supported by this stream (supported: {supported}); re-run `pixelis split`"
        )
    return manifest


def sample_id_digest(table: pa.Table) -> str:
    """blake2b of the sample_id column's UTF-8 bytes and lengths, independent of chunking and offset width."""
    digest = hashlib.blake2b(digest_size=16)
    for chunk in table.column(ID_COLUMN).chunks:
        if chunk.null_count:
            raise SplitDirError(f"{ID_COLUMN}: {chunk.null_count} null value(s)")
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.large_string())
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        _, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        if len(offsets) > 1 and data_buf is not None:
            digest.update(memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])])
        digest.update(np.diff(offsets).astype("<i8").tobytes())
    return digest.hexdigest()


def read_weights(table: pa.Table, path: Path) -> np.ndarray:
    """``sampling_weight`` as float64, rejecting nulls, NaN, infinities and negatives (counted, with examples)."""
    column = table.column(WEIGHT_COLUMN)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise SplitDirError(f"{path}: {WEIGHT_COLUMN} must be numeric (got {column.type})")
    if column.null_count:
        raise SplitDirError(f"{path}: {WEIGHT_COLUMN} has {column.null_count} null value(s)")
    weights = column.to_numpy().astype(np.float64, copy=False)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:3].tolist()
        examples = ", ".join(f"row {r} = {weights[r]}" for r in rows)
        raise SplitDirError(
            f"{path}: {WEIGHT_COLUMN} must be finite and >= 0; {int(bad.sum())} row(s) are not ({examples})"
        )
    return weights


@dataclass(frozen=True)
class CategoryFile:
    """One memory-mapped category file and what the stream needs to know about it."""

    name: str
    path: Path
    table: pa.Table
    n_rows: int
    n_drawable: int
    """Rows with sampling_weight > 0: the length of one epoch (weight-0 rows are never drawn)."""

    @property
    def label(self) -> str:
        """The file's name, for messages."""
        return self.path.name


class SplitFiles:
    """The category files and eval file of one split directory, memory-mapped and validated."""

    def __init__(self, split_dir: str | Path) -> None:
        self.split_dir = Path(split_dir)
        self.manifest = read_manifest(self.split_dir)
        missing = [f"{name}.arrow" for name in (*CATEGORIES, EVAL) if not (self.split_dir / f"{name}.arrow").is_file()]
        if missing:
            raise SplitDirError(f"{self.split_dir}: missing split file(s) {', '.join(missing)}")
        counts = self.manifest.get("counts")
        self.categories: dict[str, CategoryFile] = {}
        for name in CATEGORIES:
            path = self.split_dir / f"{name}.arrow"
            table = open_arrow(path)
            absent = [c for c in (ID_COLUMN, WEIGHT_COLUMN) if c not in table.column_names]
            if absent:
                raise SplitDirError(f"{path}: missing column(s) {', '.join(absent)}")
            expected = counts.get(name) if isinstance(counts, dict) else None
            if isinstance(expected, int) and expected != table.num_rows:
                raise SplitDirError(
                    f"{path}: has {table.num_rows} rows but manifest.json counts {expected}; "
                    "the directory was modified after `pixelis split`"
                )
            weights = read_weights(table, path)
            self.categories[name] = CategoryFile(
                name=name,
                path=path,
                table=table,
                n_rows=table.num_rows,
                n_drawable=int(np.count_nonzero(weights)),
            )
        self._fingerprint: dict[str, dict[str, Any]] | None = None
        self._views: dict[tuple[str, ...] | None, list[pa.Table]] = {}

    def weights(self, category: str) -> np.ndarray:
        """The sampling_weight column of ``category`` (read from the mapping; validated at open)."""
        return self.categories[category].table.column(WEIGHT_COLUMN).to_numpy().astype(np.float64, copy=False)

    def views(self, columns: Sequence[str] | None) -> list[pa.Table]:
        """Per category (in ``CATEGORIES`` order), the table restricted to ``columns`` minus ``category``.

        Cached per column list: building the selection costs more than fetching a micro-batch.
        """
        key = None if columns is None else tuple(columns)
        hit = self._views.get(key)
        if hit is not None:
            return hit
        out = []
        for name in CATEGORIES:
            f = self.categories[name]
            names = f.table.column_names
            wanted = names if key is None else list(key)
            unknown = [col for col in wanted if col not in names and col != CATEGORY_COLUMN]
            if unknown:
                raise ValueError(f"fetch: unknown column(s) {unknown} in {f.path.name}")
            out.append(f.table.select([col for col in wanted if col != CATEGORY_COLUMN]))
        self._views[key] = out
        return out

    def eval_table(self) -> pa.Table:
        """``eval.arrow``, memory-mapped."""
        return open_arrow(self.split_dir / f"{EVAL}.arrow")

    def fingerprint(self) -> dict[str, dict[str, Any]]:
        """Per category: row count, drawable rows and the sample_id digest (what a resume must match).

        Computed on first use (one pass over the sample_id bytes of the mapping) and cached.
        """
        if self._fingerprint is None:
            self._fingerprint = {
                name: {"rows": f.n_rows, "drawable": f.n_drawable, "sample_ids": sample_id_digest(f.table)}
                for name, f in self.categories.items()
            }
        return {name: dict(v) for name, v in self._fingerprint.items()}


def check_weights(weights: dict[str, float], files: SplitFiles | Mapping[str, Any] | None = None) -> dict[str, float]:
    """Validate curriculum weights; return them normalised to sum 1 over ``CATEGORIES`` (missing = 0).

    Every problem is reported at once: unknown categories, negative / non-finite values, an all-zero
    mixture, and (with ``files``: a split, or its training categories by name, each with ``n_rows``,
    ``n_drawable`` and a ``label``) a category given weight > 0 that has nothing to draw.
    """
    problems: list[str] = []
    if not isinstance(weights, dict):
        raise ValueError(f"weights: must be a dict of category -> weight (got {type(weights).__name__})")
    unknown = [k for k in weights if k not in CATEGORIES]
    if unknown:
        problems.append(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown} (known: {list(CATEGORIES)})")
    values: dict[str, float] = {}
    for name in CATEGORIES:
        raw = weights.get(name, 0.0)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
            problems.append(f"{name}: weight must be a finite number >= 0 (got {raw!r})")
            continue
        values[name] = float(raw)
    total = sum(values.values())
    if not problems and total <= 0:
        problems.append(f"all weights are zero (got {weights}); at least one category needs weight > 0")
    if files is not None:
        categories = files.categories if isinstance(files, SplitFiles) else files
        for name, w in values.items():
            f = categories[name]
            if w > 0 and f.n_drawable == 0:
                why = "has no rows" if f.n_rows == 0 else f"has {f.n_rows} rows, all with sampling_weight 0"
                problems.append(f"category {name!r} has weight {weights.get(name)!r} but {f.label} {why}")
    if problems:
        raise ValueError("curriculum weights: " + "; ".join(problems))
    return {name: values[name] / total for name in CATEGORIES}
