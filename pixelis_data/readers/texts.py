"""Containers -> batches of record texts: JSONL lines, JSON array elements, Parquet rows, each as JSON text.

Whatever the container, a record reaches the parser (``engine.py``) as its JSON text with its location
(line or index), so one parsing path decides every record. A UTF-8 byte order mark at the very start of
a JSONL or JSON file is skipped; blank JSONL lines are no records. A JSONL line that is not UTF-8, or a
JSON array element the streamer could not cut out, is an early reject with its location.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pixelis_data.readers.base import Reject
from pixelis_data.readers.engine import ENGINE_MEMORY, rows_as_json
from pixelis_data.readers.fastpath import line_offsets
from pixelis_data.readers.files import ITEM_BATCH, InputError, iter_parquet_batches, load_json_items

BOM = b"\xef\xbb\xbf"


@dataclass
class TextBatch:
    """Record texts of one part of one file, where each came from, and the records that are not even text."""

    texts: pa.Array
    """Large-string array, one JSON text per record."""
    lines: np.ndarray | None = None
    """1-based line number of each text (JSONL), else None."""
    indices: np.ndarray | None = None
    """Position of each text in the file's records (JSON array, Parquet), else None."""
    early: list[Reject] = field(default_factory=list)
    bytes_done: int = 0

    @property
    def n_input(self) -> int:
        return len(self.texts) + len(self.early)

    def split(self, rows: int) -> list[TextBatch]:
        """Consecutive parts of at most ``rows`` texts (the early rejects and the bytes go with the first)."""
        if len(self.texts) <= rows:
            return [self]
        parts = []
        for start in range(0, len(self.texts), rows):
            first = start == 0
            parts.append(
                TextBatch(
                    texts=self.texts.slice(start, rows),
                    lines=None if self.lines is None else self.lines[start : start + rows],
                    indices=None if self.indices is None else self.indices[start : start + rows],
                    early=self.early if first else [],
                    bytes_done=self.bytes_done if first else 0,
                )
            )
        return parts

    def reject(self, source: str, pos: int, reason: str) -> Reject:
        """The reject of text ``pos`` with its location and raw text."""
        line = None if self.lines is None else int(self.lines[pos])
        index = None if self.indices is None else int(self.indices[pos])
        raw = self.texts[pos].as_py()
        if line is not None:  # a JSONL text still ends with its line break
            raw = raw.removesuffix("\n")
        return Reject(source=source, reason=reason, raw=raw, line=line, index=index)


def _line_array(chunk: pa.Buffer) -> pa.Array:
    """The chunk's lines as a zero-copy string array (each line keeps its newline: JSON whitespace)."""
    offsets = line_offsets(chunk)
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), chunk)


def _utf8_lines(arr: pa.Array, first_line: int, source: str) -> tuple[pa.Array, list[Reject]]:
    """The lines with every non-UTF-8 line emptied (so it is skipped), and a reject for each of those."""
    binary = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(arr), arr.buffers())
    texts, rejects = [], []
    for i, raw in enumerate(binary.to_pylist()):
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            texts.append("")
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            rejects.append(Reject(source, f"not UTF-8 text ({err})", text, line=first_line + i))
    return pa.array(texts, pa.large_string()), rejects


def _not_blank(arr: pa.Array) -> np.ndarray:
    """Mask of the lines holding more than whitespace (only lines that start with whitespace are looked at)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    keep = ends > starts
    first = data[np.minimum(starts, len(data) - 1)] if len(data) else np.zeros(len(arr), dtype=np.uint8)
    doubt = np.flatnonzero(keep & np.isin(first, (9, 10, 13, 32)))
    if len(doubt):
        stripped = pc.utf8_length(pc.utf8_trim_whitespace(arr.take(pa.array(doubt)))).to_numpy(zero_copy_only=False)
        keep[doubt] = stripped > 0
    return keep


def _jsonl_chunks(path: Path, chunk_bytes: int) -> Iterator[pa.Buffer]:
    """Whole-line chunks of about ``chunk_bytes`` of a memory-mapped file.

    The chunks are views of the mapped file, not copies: reading 32 MiB chunks into fresh bytes cost
    five times the CPU of cutting the lines (page faults of the new allocations).
    """
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    whole = pa.py_buffer(mapped)  # the mapping lives as long as a view of it does
    size, start = len(mapped), 0
    while start < size:
        end = min(start + chunk_bytes, size)
        if end < size:  # cut after the chunk's last line break (or the next one, for a longer line)
            cut = mapped.rfind(b"\n", start, end)
            cut = cut if cut >= 0 else mapped.find(b"\n", end)
            end = size if cut < 0 else cut + 1
        yield whole.slice(start, end - start)
        # the pages read so far would count in this process' RSS until the whole file is read; they stay
        # in the page cache, and a view still in use reads them back from there
        mapped.madvise(mmap.MADV_DONTNEED, 0, start - start % mmap.PAGESIZE)
        start = end


def jsonl_text_batches(path: Path, chunk_bytes: int) -> Iterator[TextBatch]:
    """Whole-line chunks of a JSONL file as text batches (blank lines skipped, line numbers kept)."""
    source = str(path)
    first_line = 1
    try:
        for chunk in _jsonl_chunks(path, chunk_bytes):
            skip = len(BOM) if first_line == 1 and bytes(memoryview(chunk)[: len(BOM)]) == BOM else 0
            arr = _line_array(chunk.slice(skip))
            ends_open = chunk.size > skip and np.frombuffer(chunk, dtype=np.uint8)[-1] != 10
            next_line = first_line + len(arr) - int(ends_open)
            early: list[Reject] = []
            try:
                arr.validate(full=True)
            except pa.ArrowInvalid:
                arr, early = _utf8_lines(arr, first_line, source)
            idx = np.flatnonzero(_not_blank(arr))
            texts = arr if len(idx) == len(arr) else arr.take(pa.array(idx))
            yield TextBatch(texts=texts, lines=first_line + idx, early=early, bytes_done=chunk.size)
            first_line = next_line
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror or err})") from None


def json_text_batches(path: Path) -> Iterator[TextBatch]:
    """Elements of a JSON array file as text batches with their index.

    The JSON engine cuts the elements of a plain array (``read_json_objects``: each element's own text,
    in C++); a file it refuses (a ``{"samples": [...]}`` object, a malformed element, text that is not
    UTF-8, an element over its size limit) is read on by the Python streamer from the element where
    the engine stopped, and that streamer gives each reject its index and reason.
    """
    done, given = 0, 0
    try:
        for batch in _engine_json_batches(path):
            done, given = done + len(batch.texts), given + batch.bytes_done
            yield batch
        return
    except _EngineRefused:
        pass
    for batch in _streamed_json_batches(path, skip=done):
        # the streamer reads from the start: the bytes the engine already reported are not counted twice
        counted = min(given, batch.bytes_done)
        batch.bytes_done, given = batch.bytes_done - counted, given - counted
        yield batch


class _EngineRefused(Exception):
    """The engine could not cut this JSON file into elements (the streamer reads it instead)."""


def _engine_json_batches(path: Path) -> Iterator[TextBatch]:
    import duckdb

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(len(BOM) + 64)
    if not head.removeprefix(BOM).lstrip().startswith(b"["):
        raise _EngineRefused
    # a connection of its own: the open result streams while the parser queries the thread's connection
    con = duckdb.connect(config={"memory_limit": ENGINE_MEMORY})
    try:
        quoted = "'" + str(path).replace("'", "''") + "'"
        sql = f"SELECT json::VARCHAR AS text FROM read_json_objects({quoted}, format = 'array')"
        reader = con.sql(sql).to_arrow_reader(ITEM_BATCH)
        start, given = 0, 0
        for record_batch in reader:
            texts = record_batch.column(0).cast(pa.large_string())
            n = len(texts)
            done = int(pc.sum(pc.binary_length(texts)).as_py() or 0) + n  # about the bytes read (and a comma each)
            done = min(done, size - given)
            given += done
            yield TextBatch(texts=texts, indices=np.arange(start, start + n, dtype=np.int64), bytes_done=done)
            start += n
        yield TextBatch(texts=pa.array([], pa.large_string()), bytes_done=size - given)
    except (duckdb.Error, OSError, pa.ArrowException) as err:  # errors while streaming come through Arrow
        raise _EngineRefused from err
    finally:
        con.close()


def _streamed_json_batches(path: Path, skip: int = 0) -> Iterator[TextBatch]:
    """Elements of a JSON array file, cut by the Python streamer, from element ``skip`` on."""
    source = str(path)
    reader = load_json_items(path, keep_text=True)
    items = (item for item in reader if item.index is None or item.index >= skip)
    done = 0
    while batch := list(islice(items, ITEM_BATCH)):
        # a complete element the streamer could not parse is judged by the engine like any other text, so
        # its reason is the same whichever reader cut it (and the same as on a JSONL line)
        good = [item for item in batch if item.text is not None]
        early = [
            Reject(source, item.error or "malformed JSON", "", index=item.index) for item in batch if item.text is None
        ]
        texts = pa.array([item.text for item in good], pa.large_string())
        yield TextBatch(
            texts=texts,
            indices=np.array([item.index for item in good], dtype=np.int64),
            early=early,
            bytes_done=reader.bytes_read - done,
        )
        done = reader.bytes_read


def parquet_text_batches(path: Path, drop: set[str]) -> Iterator[TextBatch]:
    """Rows of a Parquet file as JSON texts (``to_json`` of each row, minus the ``drop`` columns)."""
    size = path.stat().st_size
    for batch, start in iter_parquet_batches(path):
        table = pa.Table.from_batches([batch])
        table = table.drop_columns([c for c in table.column_names if c in drop])
        try:
            texts = rows_as_json(table)
        except Exception as err:  # a column type JSON cannot hold (e.g. an unsigned huge integer)
            raise InputError(f"{path}: cannot read its rows as records ({str(err).splitlines()[0]})") from None
        yield TextBatch(texts=texts, indices=np.arange(start, start + len(texts), dtype=np.int64), bytes_done=0)
    yield TextBatch(texts=pa.array([], pa.large_string()), bytes_done=size)
