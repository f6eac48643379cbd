"""The one JSON parsing path: record texts -> input-schema rows and reject reasons, in DuckDB's JSON engine.

Every record of every container and format reaches this module as JSON text (a JSONL line, a JSON array
element, a Parquet row as ``to_json``, an adapter's output). Stage 1 gives each text's key lists and
merged type structure (``json_structure``); stage 2 parses the values with one struct spec (the pixelis
fields plus the batch's unknown fields) and flags, with plain list and string tests, every record a rule
of docs/formats.md ("Defined behaviour") may refuse. So a record gives the same row whatever file, chunk
or neighbours it came with. Python looks only at the few flagged texts (``explain.py``: the reason) and
at the records the SQL does not build itself (``fixups.py``: a string ``parameters``, unknown step keys,
an ``extra`` to merge by hand), whose JSON texts the engine serialises too (``normalise_json``).
"""

from __future__ import annotations

import json
import re
import threading

import polars as pl
import pyarrow as pa

from pixelis_data.readers.explain import TEXT_FIELDS, explain
from pixelis_data.readers.fixups import rebuild
from pixelis_data.readers.pixelis import INPUT_SCHEMA, STEP_KEYS, TOP_KEYS

# Texts DuckDB accepts but strict JSON does not may hold one of these; only those go to Python.
SUSPECT = r",\s*[\]}]|[:,\[]\s*[-+]?(?i:nan|inf|infinity)\s*[,\]}]"
_INTEGER = ("UBIGINT", "BIGINT", "HUGEINT", "UHUGEINT")
_NUMBER = (*_INTEGER, "DOUBLE")
# json_structure paths whose merged type decides whether a record is flagged (or fixed up in Python)
_PATHS = (
    "sample_id",
    *TEXT_FIELDS,
    "sampling_weight",
    "images",
    "trajectory",
    "trajectory[0].action",
    "trajectory[0].thought",
    "trajectory[0].parameters",
)
MAX_UNKNOWN = 64  # distinct unknown fields per batch read by the SQL; beyond, extra is built in Python
_PLAIN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
ENGINE_BATCH = 1024  # rows per Arrow record batch handed to DuckDB
ENGINE_MEMORY = "256MB"
_local = threading.local()


def _con():
    """One DuckDB connection per thread (imported lazily: only reading needs it)."""
    con = getattr(_local, "con", None)
    if con is None:
        try:  # a base dependency, imported here so that commands that read nothing do not pay for it
            import duckdb
        except ImportError as err:
            raise ImportError(f"duckdb is required to read records: pip install 'duckdb>=1.3' ({err})") from None

        # without a limit DuckDB keeps up to 80% of RAM in its buffer pool; a batch needs far less
        con = _local.con = duckdb.connect(config={"memory_limit": ENGINE_MEMORY})
    return con


def _list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"


def _st(path: str) -> str:
    return f"coalesce(st[{_PATHS.index(path) + 1}], 'NULL')"


def _spec(unknown: tuple[str, ...]) -> str:
    fields: dict = {k: "VARCHAR" for k in TOP_KEYS}
    fields.update(images="JSON", extra="JSON", trajectory=[dict.fromkeys(STEP_KEYS, "VARCHAR")])
    fields.update(dict.fromkeys(unknown, "JSON"))
    return json.dumps(fields).replace("'", "''")


# stage 1: the key lists and the merged type structure of every text (three cheap passes of the parser)
_STAGE1 = (
    "SELECT pos, line, try(json_keys(line)) AS keys, try(json_keys(line, '$.trajectory[*]')) AS skeys, "
    "try(json_structure(line)) AS s FROM t"
)


def _flags() -> str:
    """SQL: true where Python must judge the record (explain.py): simple tests of the structure's types."""
    text_ok = "('VARCHAR', 'NULL')"
    tests = [
        "keys IS NULL OR s IS NULL OR r IS NULL",
        "left(ltrim(line), 1) <> '{'",
        "len(keys) <> len(list_distinct(keys))",
        "list_contains(skeys, [])",
        "list_bool_or(list_transform(skeys, lambda k: len(list_distinct(k)) < len(k)))",
        *(f"{_st(n)} NOT IN {text_ok}" for n in (*TEXT_FIELDS, "trajectory[0].action", "trajectory[0].thought")),
        f"{_st('sample_id')} NOT IN ('VARCHAR', 'NULL', {_list(_INTEGER)[1:-1]})",
        f"{_st('sampling_weight')} NOT IN ('NULL', {_list(_NUMBER)[1:-1]})",
        f"{_st('images')} NOT IN ('NULL', 'VARCHAR', '[\"VARCHAR\"]', '[\"NULL\"]')",
        f"{_st('trajectory')} <> 'NULL' AND NOT starts_with({_st('trajectory')}, '[{{') "
        f"AND {_st('trajectory')} <> '[\"NULL\"]'",
        f"regexp_matches(line, '{SUSPECT}')",
    ]
    return " OR ".join(f"({t})" for t in tests)


def _stage2(unknown: tuple[str, ...]) -> str:
    """SQL over stage 1 + the values: input-schema columns, ``_check`` / ``_refused`` and ``_fix``."""
    # the SQL reads unknown fields with plain lower-case names (struct field names are case-insensitive);
    # a record with any other unknown field gets its extra from Python
    read = tuple(k for k in unknown if _PLAIN.fullmatch(k))[:MAX_UNKNOWN]
    unread = tuple(k for k in unknown if k not in read)
    cases = " ".join(f"WHEN '{k}' THEN r.\"{k}\"" for k in read)
    value = f"coalesce(CASE k {cases} END::VARCHAR, 'null')" if read else "'null'"
    row_unknown = f"list_filter(keys, lambda k: NOT list_contains({_list(TOP_KEYS)}, k))"
    unk = f"'{{' || array_to_string(list_transform({row_unknown}, lambda k: to_json(k) || ':' || {value}), ',') || '}}'"
    own = "r.extra::VARCHAR"
    extra = (
        f"CASE WHEN NOT has_unknown THEN {own} WHEN r.extra IS NULL OR {own} = '{{}}' THEN unk "
        f"ELSE ({own})[:-2] || ',' || unk[2:] END"
    )
    fix = [
        f"{_st('trajectory[0].parameters')} IN ('VARCHAR', 'JSON')",
        f"len(list_filter(coalesce(try(json_keys(s, '$.trajectory[0]')), []), "
        f"lambda k: NOT list_contains({_list(STEP_KEYS)}, k))) > 0",
        "has_unknown AND r.extra IS NOT NULL AND left(r.extra::VARCHAR, 1) <> '{'",
        f"has_unknown AND left(r.extra::VARCHAR, 1) = '{{' AND list_has_any(json_keys(r.extra), {row_unknown})",
        "NOT has_unknown AND left(r.extra::VARCHAR, 1) = '\"'",
        *([f"list_has_any(keys, {_list(unread)})"] if unread else []),
    ]
    columns = {
        "sample_id": "r.sample_id",
        **{name: f"r.{name}" for name in TEXT_FIELDS},
        "images": f"CASE {_st('images')} WHEN 'VARCHAR' THEN [r.images->>'$'] "
        "WHEN 'NULL' THEN NULL ELSE from_json(r.images, '[\"VARCHAR\"]') END",
        "trajectory": "r.trajectory",
        "sampling_weight": f"CASE WHEN {_st('sampling_weight')} IN {tuple(_NUMBER)} "
        "THEN TRY_CAST(r.sampling_weight AS DOUBLE) END",
        "extra": extra,
    }
    select = ",\n  ".join(f"{expr} AS {name}" for name, expr in columns.items())
    paths = ", ".join(f"'$.{p}'" for p in _PATHS)
    return f"""
WITH parsed AS (
  SELECT *, try(from_json(line, '{_spec(read)}')) AS r, try(json_extract_string(s, [{paths}])) AS st,
    len(list_intersect(keys, {_list(TOP_KEYS)})) < len(keys) AS has_unknown
  FROM t
), built AS (
  SELECT *, CASE WHEN has_unknown THEN {unk} END AS unk FROM parsed
)
SELECT pos, {_flags()} AS _check, keys IS NULL OR s IS NULL OR r IS NULL AS _refused,
  coalesce({" OR ".join(f"({f})" for f in fix)}, false) AS _fix,
  {select}
FROM built
"""


def _run(sql: str, table: pa.Table) -> pa.Table:
    con = _con()
    con.register("t", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("t")


def parse_texts(texts: pa.Array) -> pl.DataFrame:
    """Rows of the input schema, row i from ``texts[i]``, with ``_type_reason`` (null when the record is fine).

    ``texts`` is an Arrow string array of JSON records (blank texts are no records: callers drop them).
    """
    pos = pa.array(range(len(texts)), pa.int64())
    table = pa.table({"pos": pos, "line": texts.cast(pa.large_string())})
    # small record batches let DuckDB spread one chunk over its threads
    first = _run(_STAGE1, pa.Table.from_batches(table.to_batches(max_chunksize=ENGINE_BATCH), table.schema))
    keys = pl.from_arrow(first.column("keys")).explode().drop_nulls().unique().sort().to_list()
    unknown = tuple(k for k in keys if k not in TOP_KEYS)
    frame = pl.from_arrow(_run(_stage2(unknown), first))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort("pos").with_columns(pl.lit(None, dtype=pl.String).alias("_type_reason"))
    frame = _explain_flagged(frame, texts)
    frame = _fix_rows(frame, texts)
    return frame.select(
        pl.col("pos").alias("_pos"), *[pl.col(c).cast(dt) for c, dt in INPUT_SCHEMA.items()], "_type_reason"
    )


def _explain_flagged(frame: pl.DataFrame, texts: pa.Array) -> pl.DataFrame:
    """Rows the engine flagged get the Python reason (malformed, duplicate key, NaN, ...), if it finds one."""
    reasons: dict[int, str] = {}
    for p, refused in frame.filter(pl.col("_check")).select("pos", "_refused").iter_rows():
        reason = explain(texts[p].as_py(), bool(refused), pixelis=True)
        if reason is not None:
            reasons[p] = reason
    frame = frame.drop("_check", "_refused")
    if not reasons:
        return frame
    found = pl.DataFrame(
        {"pos": list(reasons), "_why": list(reasons.values())}, schema={"pos": pl.Int64, "_why": pl.String}
    )
    joined = frame.join(found, on="pos", how="left", maintain_order="left")
    return joined.with_columns(pl.col("_why").alias("_type_reason")).drop("_why")


def normalise_json(texts: list[str]) -> list[str]:
    """JSON texts re-serialised by the engine (the form every JSON column of the canonical record has)."""
    if not texts:
        return []
    out = _run("SELECT pos, json(line) AS j FROM t ORDER BY pos", pa.table({"pos": range(len(texts)), "line": texts}))
    return out.column("j").to_pylist()


def _fix_rows(frame: pl.DataFrame, texts: pa.Array) -> pl.DataFrame:
    """``extra`` and ``trajectory`` of the records the SQL leaves to Python (``fixups.rebuild``)."""
    todo = frame.filter(pl.col("_fix") & pl.col("_type_reason").is_null())["pos"].to_list()
    frame = frame.drop("_fix")
    if not todo:
        return frame
    rebuilt = rebuild([texts[p].as_py() for p in todo], normalise_json)
    todo, built = [p for p, b in zip(todo, rebuilt, strict=True) if b is not None], [b for b in rebuilt if b]
    fixed = pl.DataFrame(
        {"pos": todo, "_extra": [e for e, _ in built], "_traj": [t for _, t in built]},
        schema={"pos": pl.Int64, "_extra": pl.String, "_traj": frame.schema["trajectory"]},
    )
    hit = pl.col("_hit").fill_null(False)
    return (
        frame.join(fixed.with_columns(pl.lit(True).alias("_hit")), on="pos", how="left", maintain_order="left")
        .with_columns(
            pl.when(hit).then(pl.col("_extra")).otherwise(pl.col("extra")).alias("extra"),
            pl.when(hit).then(pl.col("_traj")).otherwise(pl.col("trajectory")).alias("trajectory"),
        )
        .drop("_extra", "_traj", "_hit")
    )


def rows_as_json(table: pa.Table) -> pa.Array:
    """Each row of ``table`` as the JSON text of an object (null columns included as null)."""
    if table.num_rows == 0:
        return pa.array([], pa.large_string())
    out = _run("SELECT to_json(t) AS j FROM t", table)
    return out.column("j").combine_chunks().cast(pa.large_string())


_PRECHECK = "SELECT pos, try(json_keys(line)) AS keys, regexp_matches(line, '" + SUSPECT + "') AS suspect FROM t"


def precheck_texts(texts: list[str]) -> list[str | None]:
    """For records of other formats: each text's reject reason under the same JSON rules, or None.

    The engine checks what it checks for pixelis records (valid JSON and Unicode, strict literals, no
    duplicate key in the record's own object); the adapter then parses the text with ``json.loads``.
    """
    if not texts:
        return []
    table = pa.table({"pos": pa.array(range(len(texts)), pa.int64()), "line": pa.array(texts, pa.large_string())})
    out: list[str | None] = [None] * len(texts)
    for row in _run(_PRECHECK, table).to_pylist():
        keys = row["keys"]
        if keys is None or row["suspect"] or len(keys) != len(set(keys)):
            out[row["pos"]] = explain(texts[row["pos"]], keys is None, pixelis=False)
    return out
