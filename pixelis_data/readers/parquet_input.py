"""Parquet input in the pixelis format, converted batch by batch without per-row Python when typed as expected."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from pixelis_data.factor_registry import REGISTRY_COLUMNS
from pixelis_data.readers.pixelis import INPUT_SCHEMA, STEP_KEYS, canonicalize
from pixelis_data.schema import DIAGNOSTIC_SCHEMA, SCORE_COLUMN

# Columns a previous `pixelis score` added: they are recomputed, so re-scoring a scores file is allowed.
DERIVED = {*REGISTRY_COLUMNS, SCORE_COLUMN, *DIAGNOSTIC_SCHEMA.names(), "category"}


def _step_to_text(dtype: pl.DataType) -> pl.Expr | None:
    """Expression turning a trajectory column of ``dtype`` into the input step schema, or None."""
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return None
    fields = {f.name: f.dtype for f in dtype.inner.fields}
    if set(fields) - set(STEP_KEYS) or "action" not in fields:
        return None
    parts = []
    for key in STEP_KEYS:
        field = pl.element().struct.field(key) if key in fields else pl.lit(None, dtype=pl.String)
        ftype = fields.get(key, pl.String)
        if isinstance(ftype, (pl.Struct, pl.List)):
            field = (
                pl.element()
                .struct.field(key)
                .map_batches(
                    lambda s: (
                        s.to_frame()
                        .select(pl.struct(s.name).struct.json_encode())
                        .to_series()
                        .str.strip_prefix(f'{{"{s.name}":')
                        .str.strip_suffix("}")
                    ),
                    return_dtype=pl.String,
                )
            )
        elif ftype != pl.String:
            return None
        parts.append(field.alias(key))
    return pl.col("trajectory").list.eval(pl.struct(parts))


def parquet_batch_frame(batch: pa.RecordBatch, alias_table: dict[str, str]) -> pl.DataFrame | None:
    """Canonical rows (with ``_reject_reason``) of a Parquet batch, or None if it needs the general path."""
    frame = pl.DataFrame(pa.Table.from_batches([batch]))
    frame = frame.drop([c for c in frame.columns if c in DERIVED])
    if set(frame.columns) - set(INPUT_SCHEMA.names()) or "trajectory" not in frame.columns:
        return None
    traj = _step_to_text(frame.schema["trajectory"])
    if traj is None:
        return None
    frame = frame.with_columns(traj)
    missing = [pl.lit(None, dtype=dt).alias(n) for n, dt in INPUT_SCHEMA.items() if n not in frame.columns]
    try:
        frame = frame.with_columns(missing).select(INPUT_SCHEMA.names()).cast(dict(INPUT_SCHEMA))
    except Exception:
        return None
    return canonicalize(frame, "pixelis", alias_table)
