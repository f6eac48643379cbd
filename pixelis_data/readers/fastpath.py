"""Plain records parsed in one C pass (``_fastparse.c``); every other text is left to the engine path.

Most records of a data set are *plain*: strict JSON, known fields (or plain lower-case unknown ones)
each given once, every value of its field's type, no non-integer number inside a JSON value. For those
the C parser builds the input-schema columns directly, in about the CPU time of DuckDB's bare read; the
rest (malformed, duplicate keys, wrong types, NaN, string ``parameters``, ...) take ``engine.py``, where
every rule of docs/formats.md lives. A text gives the same row either way (tests/test_fastparse.py).
Where the extension could not be compiled (``pip install`` without a C compiler), or with
``PIXELIS_FASTPARSE=0`` in the environment, ``AVAILABLE`` is False and every text takes the engine path.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

from pixelis_data.readers.pixelis import INPUT_SCHEMA

try:
    from pixelis_data.readers import _fastparse
except ImportError:  # built by `pip install` (setup.py); optional there
    _fastparse = None
if os.environ.get("PIXELIS_FASTPARSE") == "0":  # every text on the engine path (benchmarks, bug reports)
    _fastparse = None

AVAILABLE = _fastparse is not None
_STEP_FIELDS = ("action", "thought", "parameters", "result")
Buffers = tuple[bytes, bytes, bytes | None, int, int]
"""(validity bitmap, offsets or float64 values, string bytes or None, null count, length) of one column."""


def _validity(bits: bytes, nulls: int) -> pa.Buffer | None:
    return pa.py_buffer(bits) if nulls else None


def _strings(col: Buffers) -> pa.Array:
    bits, offsets, data, nulls, n = col
    buffers = [_validity(bits, nulls), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_string(), n, buffers, null_count=nulls)


def _list(col: Buffers, child: pa.Array) -> pa.Array:
    bits, offsets, _, nulls, n = col
    buffers = [_validity(bits, nulls), pa.py_buffer(offsets)]
    return pa.Array.from_buffers(pa.large_list(child.type), n, buffers, null_count=nulls, children=[child])


def _table(cols: dict[str, Buffers]) -> pa.Table:
    steps = pa.StructArray.from_arrays([_strings(cols[f"step.{k}"]) for k in _STEP_FIELDS], names=_STEP_FIELDS)
    bits, values, _, nulls, n = cols["sampling_weight"]
    weight = pa.Array.from_buffers(pa.float64(), n, [_validity(bits, nulls), pa.py_buffer(values)], null_count=nulls)
    built = {
        "images": _list(cols["images"], _strings(cols["images.item"])),
        "trajectory": _list(cols["trajectory"], steps),
        "sampling_weight": weight,
    }
    return pa.table({name: built[name] if name in built else _strings(cols[name]) for name in INPUT_SCHEMA})


def id_set() -> Any:
    """A new C set of id hash pairs (``_fastparse.IdSet``, used by ``readers/seen.py``), or None without the
    extension."""
    return None if _fastparse is None else _fastparse.IdSet()


def line_offsets(chunk: pa.Buffer) -> np.ndarray:
    """Int64 offsets ``[0, end of line 1, ..., len(chunk)]`` of the chunk's lines, each with its line break."""
    if _fastparse is not None:
        return np.frombuffer(_fastparse.line_offsets(memoryview(chunk)), np.int64)
    buf = np.frombuffer(chunk, dtype=np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(buf == 10) + 1]).astype(np.int64)
    if starts[-1] == len(chunk):
        starts = starts[:-1]
    return np.concatenate([starts, [len(chunk)]]).astype(np.int64)


class Plain(NamedTuple):
    """What the C parser made of a batch of texts."""

    frame: pl.DataFrame
    """The plain records' rows: ``_pos``, the input schema, ``_type_reason`` (null)."""
    rest: np.ndarray
    """Positions of every other text: the engine path parses those."""
    trajectory: pa.Array
    """The ``trajectory`` column of every text as Arrow (null where deferred): the scores writer reuses it
    instead of converting Polars' column back (``Batch.trajectory``)."""


def parse_plain(texts: pa.Array) -> Plain | None:
    """The plain records of ``texts`` and the positions of the others; None without the extension."""
    if _fastparse is None:
        return None
    arr = texts.cast(pa.large_string())
    if arr.null_count:
        raise ValueError("record texts must not be null")
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, np.int64)[arr.offset : arr.offset + len(arr) + 1]
    deferred, cols = _fastparse.parse(memoryview(data) if data is not None else b"", memoryview(offs))
    mask = np.frombuffer(deferred, np.uint8).astype(bool)
    table = _table(cols)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_pos"),
        *[pl.col(c).cast(dt) for c, dt in INPUT_SCHEMA.items()],
        pl.lit(None, dtype=pl.String).alias("_type_reason"),
    )
    if mask.any():
        frame = frame.filter(pl.Series(~mask))
    # the table's columns are single arrays: chunk(0) is the array itself (combine_chunks would copy it)
    return Plain(frame, np.flatnonzero(mask), table.column("trajectory").chunk(0))
