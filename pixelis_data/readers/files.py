"""Input files: expanding paths/dirs/globs, and iterating JSON array elements and Parquet batches (JSONL: texts.py)."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from pixelis_data.readers.base import RawItem
from pixelis_data.readers.json_stream import BLOCK_BYTES, JsonItems, JsonStreamError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED = JSONL_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES
ITEM_BATCH = 20_000


class InputError(ValueError):
    """A missing, empty, unreadable or unsupported input file (one line, names the file)."""


def container_of(path: Path) -> str:
    """'jsonl', 'json' or 'parquet' from the file name."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise InputError(f"{path}: unsupported file type {suffix or '(none)'!r} (expected one of {', '.join(SUPPORTED)})")


def expand_inputs(inputs: str | os.PathLike[str] | list[str | os.PathLike[str]]) -> list[Path]:
    """Files named by a path, a directory (its supported files, recursively) or a glob, sorted."""
    items = inputs if isinstance(inputs, list) else [inputs]
    files: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
            if not found:
                raise InputError(f"{path}: directory holds no {', '.join(SUPPORTED)} files")
            files.extend(found)
        elif path.exists():
            if not path.is_file():
                raise InputError(f"{path}: not a regular file")
            files.append(path)
        elif any(ch in text for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not found:
                raise InputError(f"{text}: no file matches this pattern")
            files.extend(found)
        else:
            raise InputError(f"{path}: no such file or directory")
    for path in files:
        container_of(path)
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: not readable (permission denied)")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty")
    return files


def load_json_items(path: Path, block_bytes: int = BLOCK_BYTES, keep_text: bool = False) -> JsonItems:
    """The records of a JSON file (a bare list or ``{"samples": [...]}``), read incrementally.

    Iterating yields one RawItem per array element (``index`` = its position); a complete but malformed
    element is a RawItem with an ``error`` (it becomes a reject). Raises InputError naming the file when
    the file is not such a container at all (not UTF-8, not JSON, not a list, unclosed at the end).
    ``bytes_read`` on the returned object tells how far reading has got; ``keep_text`` keeps each
    element's text instead of its value.
    """
    return _NamedJsonItems(path, block_bytes, keep_text)


class _NamedJsonItems(JsonItems):
    """JsonItems whose errors are InputErrors that name the file."""

    def __iter__(self) -> Iterator[RawItem]:
        try:
            yield from super().__iter__()
        except JsonStreamError as err:
            raise InputError(f"{self.path}: {err}") from None
        except OSError as err:
            raise InputError(f"{self.path}: cannot be read ({err.strerror})") from None


def iter_parquet_batches(path: Path, batch_rows: int = 65_536):
    """Record batches of a Parquet file, read lazily (constant memory in the file size)."""
    try:
        handle = pq.ParquetFile(path)
    except Exception as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None
    start = 0
    for batch in handle.iter_batches(batch_size=batch_rows):
        yield batch, start
        start += batch.num_rows
