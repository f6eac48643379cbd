"""One streaming pass over the scores Parquet into four uncompressed Arrow IPC files.

Rows keep every input column, in input order, plus a ``category`` column. The files use the Arrow IPC
*file* format (random access, zero-copy with ``pa.ipc.open_file(pa.memory_map(path))``), uncompressed
so that memory-mapping really is zero-copy, and only classic Arrow types (view types and dictionaries
are cast to their plain large equivalents) so that DuckDB, Hugging Face ``datasets`` and older readers
open them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_core.atomic import atomic_path
from pixelis_core.threads import prefetched
from pixelis_data.schema import CATEGORIES
from pixelis_data.split.holdout import CATEGORY

EVAL = "eval"
OUTPUTS: tuple[str, ...] = (*CATEGORIES, EVAL)
"""The four files. Destination codes: 0-2 training simple/medium/hard, 3-5 eval of simple/medium/hard."""


def file_name(dest: str) -> str:
    return f"{dest}.arrow"


def plain_type(t: pa.DataType) -> pa.DataType:
    """``t`` with view types, dictionaries and small offsets replaced by large classic types."""
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_string_view(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return pa.large_string()
    if pa.types.is_binary_view(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.large_binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.large_list(pa.field(t.value_field.name, plain_type(t.value_type), t.value_field.nullable))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(plain_type(t.value_type), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, plain_type(f.type), f.nullable) for f in t])
    return t


def output_schema(input_schema: pa.Schema) -> pa.Schema:
    """Input columns (plain types, no metadata; an input ``category`` column is replaced) + ``category``."""
    fields = [pa.field(f.name, plain_type(f.type), f.nullable) for f in input_schema if f.name != CATEGORY]
    return pa.schema([*fields, pa.field(CATEGORY, pa.large_string(), nullable=False)])


def write_split_files(
    scores_path: Path,
    destinations: np.ndarray,
    out_dir: Path,
    *,
    batch_rows: int,
    on_rows: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write ``out_dir/{simple,medium,hard,eval}.arrow``; ``destinations[i]`` is row i's destination code.

    Every file is written to a temporary name and renamed only once all four are complete. ``on_rows``
    gets (rows done, rows in all) after each batch. Returns the row count of each file.
    """
    parquet = pq.ParquetFile(scores_path)
    if parquet.metadata.num_rows != len(destinations):
        raise ValueError(f"{scores_path}: has {parquet.metadata.num_rows} rows but the plan has {len(destinations)}")
    schema = output_schema(parquet.schema_arrow)
    source_columns = [name for name in schema.names if name != CATEGORY]
    source_schema = pa.schema([schema.field(name) for name in source_columns])
    category_of_dest = [pa.scalar(c, pa.large_string()) for c in CATEGORIES]
    options = pa.ipc.IpcWriteOptions(compression=None)
    rows = dict.fromkeys(OUTPUTS, 0)
    with contextlib.ExitStack() as stack:
        writers = []
        for dest in OUTPUTS:
            tmp = stack.enter_context(atomic_path(out_dir / file_name(dest)))
            sink = stack.enter_context(pa.OSFile(str(tmp), "wb"))
            writers.append(stack.enter_context(pa.ipc.new_file(sink, schema, options=options)))
        # atomic_path contexts were entered first, so they exit (rename) after every writer has closed.
        offset = 0
        batches = parquet.iter_batches(batch_size=batch_rows, columns=source_columns, use_threads=True)
        # closing(): an error below stops the reader thread at once, not when the generator is collected
        for batch in stack.enter_context(contextlib.closing(prefetched(batches, name="pixelis-split-reader"))):
            n = batch.num_rows
            codes = destinations[offset : offset + n]
            offset += n
            if not batch.schema.equals(source_schema, check_metadata=True):
                batch = batch.cast(source_schema)
            table = pa.Table.from_batches([batch])
            for code in range(len(CATEGORIES)):
                _write_part(writers[code], table, codes == code, category_of_dest[code], rows, OUTPUTS[code])
            eval_mask = codes >= len(CATEGORIES)
            if eval_mask.any():
                eval_codes = codes[eval_mask] - len(CATEGORIES)
                part = table.filter(pa.array(eval_mask))
                cats = pa.array(np.asarray(CATEGORIES, dtype=object)[eval_codes], type=pa.large_string())
                writers[-1].write_table(part.append_column(schema.field(CATEGORY), cats))
                rows[EVAL] += part.num_rows
            if on_rows is not None:
                on_rows(offset, len(destinations))
        if offset != len(destinations):
            raise ValueError(f"{scores_path}: read {offset} rows, expected {len(destinations)}")
    return rows


def _write_part(
    writer: pa.ipc.RecordBatchFileWriter,
    table: pa.Table,
    mask: np.ndarray,
    category: pa.Scalar,
    rows: dict[str, int],
    dest: str,
) -> None:
    if not mask.any():
        return
    part = table.filter(pa.array(mask))
    column = pa.repeat(category, part.num_rows)
    writer.write_table(part.append_column(pa.field(CATEGORY, pa.large_string(), nullable=False), column))
    rows[dest] += part.num_rows
