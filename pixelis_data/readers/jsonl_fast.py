"""The fast path for pixelis-format JSONL: one Polars parse per byte chunk, no per-record Python.

A chunk takes this path only when Polars parses all of it and nothing needs per-record judgement; any
doubt (a parse error, a blank line, a record with both ``extra`` and unknown fields, unknown step keys)
sends the whole chunk to the general path, which gives the same rows for the same records.
"""

from __future__ import annotations

import io

import polars as pl

from pixelis_data.readers.pixelis import INPUT_SCHEMA, STEP_KEYS, canonicalize


def _extra_json(columns: list[str]) -> pl.Expr:
    """JSON text of the non-null unknown fields of each row (null when there are none)."""
    pieces = [
        pl.when(pl.col(c).is_not_null()).then(
            pl.struct(c).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")
        )
        for c in columns
    ]
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(body != "").then(pl.format("{{{}}}", body))


def _unknown_step_keys(trajectory: pl.DataType | None) -> bool:
    """Whether the inferred trajectory type has step keys outside the four of the pixelis format."""
    if isinstance(trajectory, pl.List) and isinstance(trajectory.inner, pl.Struct):
        return any(f.name not in STEP_KEYS for f in trajectory.inner.fields)
    return False


def parse_chunk(chunk: bytes, alias_table: dict[str, str]) -> pl.DataFrame | None:
    """Canonical rows (with ``_reject_reason``), row i being the chunk's line i; None for the general path."""
    # Polars skips blank lines, so a height that differs from the line count means line numbers would
    # not map to rows: such a chunk takes the general path.
    n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    try:
        # One inference pass over the whole chunk finds every key (top-level and in steps), so unknown
        # fields are never dropped; the parse then uses the input schema for the known ones.
        inferred = pl.scan_ndjson(io.BytesIO(chunk), infer_schema_length=None).collect_schema()
        if _unknown_step_keys(inferred.get("trajectory")):
            return None
        schema = {name: INPUT_SCHEMA.get(name, dtype) for name, dtype in inferred.items()}
        frame = pl.read_ndjson(io.BytesIO(chunk), schema=schema)
    except Exception:
        return None
    if frame.height != n_lines:
        return None
    unknown = [c for c in frame.columns if c not in INPUT_SCHEMA]
    if unknown:
        if "extra" in frame.columns and frame["extra"].null_count() < frame.height:
            return None
        frame = frame.with_columns(_extra_json(unknown).alias("extra")).drop(unknown)
    missing = [pl.lit(None, dtype=dt).alias(name) for name, dt in INPUT_SCHEMA.items() if name not in frame.columns]
    if missing:
        frame = frame.with_columns(missing)
    frame = frame.select(INPUT_SCHEMA.names()).cast(dict(INPUT_SCHEMA))
    return canonicalize(frame, "pixelis", alias_table)
