"""Reading inputs of any supported format into canonical batches, with rejects quarantined.

``read_batches`` is the one entry point: it expands paths, detects each file's record format, parses
(the Polars fast path for pixelis JSONL, the general path otherwise), validates, gives missing ids a
content hash and rejects duplicate sample_ids across all files. For every batch
``n_input == frame.height + len(rejects)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain, islice
from pathlib import Path

import polars as pl

from pixelis_data.config import DEFAULT_COMPLEXITY, ReadConfig
from pixelis_data.readers.base import Batch, RawItem, RecordAdapter, RecordError, Reject
from pixelis_data.readers.files import (
    ITEM_BATCH,
    InputError,
    chunk_items,
    container_of,
    expand_inputs,
    iter_jsonl_chunks,
    iter_parquet_batches,
    load_json_items,
)
from pixelis_data.readers.formats import ADAPTERS, DETECT_SAMPLE, detect_format
from pixelis_data.readers.json_stream import as_jsonl_chunk, sample_values
from pixelis_data.readers.jsonl_fast import parse_chunk
from pixelis_data.readers.outcome import sample_type_expr
from pixelis_data.readers.parquet_input import parquet_batch_frame
from pixelis_data.readers.pixelis import REJECT_COL, fill_content_ids, items_to_frame, make_reject
from pixelis_data.schema import CANONICAL_COLUMNS

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


def _split_rejects(
    frame: pl.DataFrame,
    reject_for: Callable[[int, str], Reject],
    source: str,
    early: list[Reject],
    n_input: int,
    cfg: ReadConfig,
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
    )
    batch.reject_rows(frame[REJECT_COL].is_not_null(), lambda row: row[REJECT_COL])
    batch.frame = batch.frame.with_columns(sample_type_expr(cfg)).select(CANONICAL_COLUMNS)
    return batch


def _chunk_line_rejects(chunk: bytes, first_line: int, source: str) -> Callable[[int, str], Reject]:
    """Rejects for rows of a fast-path chunk (row i is line first_line + i); the chunk is split once, lazily."""
    lines: list[bytes] = []

    def reject_for(pos: int, reason: str) -> Reject:
        if not lines:
            lines.extend(chunk.split(b"\n"))
        raw = lines[pos].decode("utf-8", "replace")
        return Reject(source=source, reason=reason, raw=raw, line=first_line + pos)

    return reject_for


def _general_batch(
    items: list[RawItem], source: str, adapter: RecordAdapter, cfg: ReadConfig, alias_table: dict[str, str]
) -> Batch:
    frame, kept, early = items_to_frame(items, source, adapter, adapter.name, alias_table)
    return _split_rejects(
        frame, lambda pos, reason: make_reject(kept[pos], source, reason), source, early, len(items), cfg
    )


def _jsonl_batches(
    path: Path, adapter: RecordAdapter, cfg: ReadConfig, alias_table: dict[str, str], progress: Progress | None
) -> Iterator[Batch]:
    source = str(path)
    for chunk, first_line in iter_jsonl_chunks(path, cfg.chunk_mb * 1024 * 1024):
        fast = parse_chunk(chunk, alias_table) if adapter.name == "pixelis" else None
        if fast is not None:
            reject_for = _chunk_line_rejects(chunk, first_line, source)
            yield _split_rejects(fast, reject_for, source, [], fast.height, cfg)
        else:
            items = chunk_items(chunk, first_line, path)
            for start in range(0, len(items), ITEM_BATCH):
                yield _general_batch(items[start : start + ITEM_BATCH], source, adapter, cfg, alias_table)
        if progress:
            progress(len(chunk))


def _file_batches(
    path: Path, fmt: str | None, cfg: ReadConfig, alias_table: dict[str, str], progress: Progress | None
) -> Iterator[Batch]:
    container = container_of(path)
    source = str(path)
    if container == "parquet":
        batches = iter_parquet_batches(path)
        first = next(batches, None)
        if first is None:
            return
        adapter = ADAPTERS[fmt] if fmt else detect_format(path, first[0].slice(0, DETECT_SAMPLE).to_pylist())
        for batch, start in chain([first], batches):
            frame = parquet_batch_frame(batch, alias_table) if adapter.name == "pixelis" else None
            if frame is not None:

                def reject_for(pos: int, reason: str, _b=batch, _s=start) -> Reject:
                    return make_reject(RawItem(value=_b.slice(pos, 1).to_pylist()[0], index=_s + pos), source, reason)

                yield _split_rejects(frame, reject_for, source, [], frame.height, cfg)
            else:
                items = [RawItem(value=v, index=start + i) for i, v in enumerate(batch.to_pylist())]
                yield _general_batch(items, source, adapter, cfg, alias_table)
        if progress:
            progress(path.stat().st_size)
        return
    if container == "json":
        # read incrementally; each batch of pixelis records goes through the JSONL fast path as a chunk
        reader = load_json_items(path, keep_text=True)
        items = iter(reader)
        batch = list(islice(items, ITEM_BATCH))
        adapter = ADAPTERS[fmt] if fmt else detect_format(path, sample_values(batch[:DETECT_SAMPLE]))
        done = 0
        while batch:
            chunk = as_jsonl_chunk(batch) if adapter.name == "pixelis" else None
            fast = parse_chunk(chunk, alias_table) if chunk is not None else None
            if fast is not None:
                yield _split_rejects(
                    fast,
                    lambda pos, reason, _b=batch: make_reject(_b[pos], source, reason),
                    source,
                    [],
                    fast.height,
                    cfg,
                )
            else:
                yield _general_batch(batch, source, adapter, cfg, alias_table)
            if progress:
                progress(reader.bytes_read - done)
                done = reader.bytes_read
            batch = list(islice(items, ITEM_BATCH))
        if progress:
            progress(path.stat().st_size - done)
        return
    adapter = ADAPTERS[fmt] if fmt else detect_format(path, None)
    yield from _jsonl_batches(path, adapter, cfg, alias_table, progress)


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
    seen = pl.Series("sample_id", [], dtype=pl.String)
    for path in expand_inputs(inputs):
        for batch in _file_batches(path, fmt, cfg, alias_table, progress):
            ids = batch.frame["sample_id"]
            dup = ids.is_in(seen.implode()) | ~ids.is_first_distinct()
            batch.reject_rows(dup, lambda row: f"duplicate sample_id {row['sample_id']!r} (the first one is kept)")
            seen = pl.concat([seen, batch.frame["sample_id"]])
            yield batch
