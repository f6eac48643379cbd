"""Reading inputs of any supported format into canonical batches, with rejects quarantined.

``read_batches`` is the one entry point: it expands paths, cuts each file into record texts
(``texts.py``), detects the file's record format, parses every text with the one JSON engine
(``engine.py``; records of other formats after their adapter), validates, gives missing ids a content
hash and rejects duplicate sample_ids across all files. For every batch
``n_input == frame.height + len(rejects)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from pixelis_core.threads import ahead
from pixelis_data.config import DEFAULT_COMPLEXITY, ReadConfig
from pixelis_data.factor_registry import REGISTRY_COLUMNS
from pixelis_data.readers.base import Batch, RawItem, RecordAdapter, RecordError, Reject
from pixelis_data.readers.engine import finish, parse_texts, precheck_texts, query
from pixelis_data.readers.files import InputError, container_of, expand_inputs
from pixelis_data.readers.formats import ADAPTERS, DETECT_SAMPLE, detect_format
from pixelis_data.readers.outcome import sample_type_expr
from pixelis_data.readers.pixelis import REJECT_COL, action_names, canonicalize, fill_content_ids
from pixelis_data.readers.seen import SeenIds
from pixelis_data.readers.texts import TextBatch, json_text_batches, jsonl_text_batches, parquet_text_batches
from pixelis_data.schema import CANONICAL_COLUMNS, DIAGNOSTIC_SCHEMA, SCORE_COLUMN

__all__ = [
    "ADAPTERS",
    "Batch",
    "InputError",
    "RawItem",
    "RecordAdapter",
    "RecordError",
    "Reject",
    "expand_inputs",
    "read_batches",
]

Progress = Callable[[int], None]
ROWS_PER_BATCH = 8192  # records parsed, scored and written together: bounds memory whatever read.chunk_mb is
CHUNK_UNIT = 1024 * 1024  # bytes per read.chunk_mb (tests shrink it to cut files into many tiny chunks)
# Columns a previous `pixelis score` added: they are recomputed, so re-scoring a scores file is allowed.
DERIVED = {*REGISTRY_COLUMNS, SCORE_COLUMN, *DIAGNOSTIC_SCHEMA.names(), "category"}


def _split_rejects(
    frame: pl.DataFrame,
    reject_for: Callable[[int, str], Reject],
    source: str,
    early: list[Reject],
    n_input: int,
    cfg: ReadConfig,
    trajectory: pa.Array | None = None,
) -> Batch:
    """Canonical rows (with ``_reject_reason``) -> a Batch whose invalid rows are rejects.

    Every format's rows pass here once: ids are filled from the content as given, then the sample type
    is derived from the answer where the record has none (``readers/outcome.py``).
    """
    frame = fill_content_ids(frame)
    batch = Batch(
        source=source,
        frame=frame,
        rejects=list(early),
        n_input=n_input,
        positions=pl.Series("_pos", range(frame.height)),
        reject_for=reject_for,
        trajectory=trajectory,
    )
    batch.reject_rows(frame[REJECT_COL].is_not_null(), lambda row: row[REJECT_COL])
    batch.frame = batch.frame.with_columns(sample_type_expr(cfg)).select(CANONICAL_COLUMNS)
    return batch


def _foreign_batch(
    tb: TextBatch, source: str, adapter: RecordAdapter, cfg: ReadConfig, alias_table: dict[str, str]
) -> Batch:
    """Records of another format: the engine's JSON checks, the adapter, then the engine's pixelis parse."""
    texts = tb.texts.to_pylist()
    rejects = list(tb.early)
    lines: list[str] = []
    kept: list[int] = []
    for pos, (text, problem) in enumerate(zip(texts, precheck_texts(texts), strict=True)):
        try:
            if problem is not None:
                raise RecordError(problem)
            record = adapter.to_pixelis(json.loads(text))
            lines.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
            kept.append(pos)
        except RecordError as err:
            rejects.append(tb.reject(source, pos, str(err)))
        except (ValueError, TypeError, RecursionError) as err:
            rejects.append(tb.reject(source, pos, f"unreadable record: {err}"))
    frame = canonicalize(parse_texts(pa.array(lines, pa.large_string())), adapter.name, alias_table)
    return _split_rejects(frame, lambda p, reason: tb.reject(source, kept[p], reason), source, rejects, tb.n_input, cfg)


def _text_batches(path: Path, cfg: ReadConfig) -> Iterator[TextBatch]:
    container = container_of(path)
    if container == "parquet":
        return parquet_text_batches(path, DERIVED)
    if container == "json":
        return json_text_batches(path)
    return jsonl_text_batches(path, cfg.chunk_mb * CHUNK_UNIT)


def _sample(tb: TextBatch) -> list[Any]:
    """The parsed values of a batch's first records (for format detection)."""
    values = []
    for text in tb.texts.slice(0, DETECT_SAMPLE * 4).to_pylist():
        try:
            values.append(json.loads(text))
        except (ValueError, RecursionError):
            continue
        if len(values) >= DETECT_SAMPLE:
            break
    return values


def _file_batches(
    path: Path, fmt: str | None, cfg: ReadConfig, alias_table: dict[str, str], progress: Progress | None
) -> Iterator[Batch]:
    source = str(path)
    batches = _text_batches(path, cfg)
    first = next(batches, None)
    if first is None:
        return
    # JSONL is detected from the file's first lines, not from the first chunk, which may hold only blank lines
    sample = None if container_of(path) == "jsonl" else _sample(first)
    adapter = ADAPTERS[fmt] if fmt else detect_format(path, sample)
    parts = (part for whole in chain([first], batches) for part in whole.split(ROWS_PER_BATCH))
    native = adapter.name == "pixelis"
    for tb, parsed in ahead(parts, lambda tb: query(tb.texts) if native and tb.n_input else None):
        if tb.n_input:
            if parsed is not None:
                frame = finish(parsed, tb.texts)
                names = action_names(frame, alias_table)
                frame = canonicalize(frame, "pixelis", alias_table, names)
                reject = lambda p, reason, _tb=tb: _tb.reject(source, p, reason)  # noqa: E731
                trajectory = None if names.renamed else parsed.trajectory
                yield _split_rejects(frame, reject, source, tb.early, tb.n_input, cfg, trajectory)
            else:
                yield _foreign_batch(tb, source, adapter, cfg, alias_table)
        if progress and tb.bytes_done:
            progress(tb.bytes_done)


def read_batches(
    inputs: str | Path | list[str | Path],
    cfg: ReadConfig | None = None,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> Iterator[Batch]:
    """Canonical batches from all input files; duplicates of an earlier sample_id become rejects.

    ``fmt`` forces a record format (a key of ``ADAPTERS``); ``progress`` is called with bytes done.
    Raises InputError for a missing, empty, unreadable or unsupported file.
    """
    cfg = cfg or ReadConfig()
    if fmt is not None and fmt not in ADAPTERS:
        raise InputError(f"unknown format {fmt!r} (known: {', '.join(ADAPTERS)})")
    alias_table = cfg.alias_table(tuple(DEFAULT_COMPLEXITY))
    seen = SeenIds()  # hashes in sorted arrays: neither time nor memory per id grows much with the file
    for path in expand_inputs(inputs):
        for batch in _file_batches(path, fmt, cfg, alias_table, progress):
            dup = seen.update(batch.frame["sample_id"])
            batch.reject_rows(dup, lambda row: f"duplicate sample_id {row['sample_id']!r} (the first one is kept)")
            yield batch
