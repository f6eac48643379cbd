"""The one JSON parsing path: record texts -> input-schema rows and reject reasons, in DuckDB's JSON engine.

Every record of every container and format reaches this module as JSON text (a JSONL line, a JSON array
element, a Parquet row as ``to_json``, an adapter's output). Plain records are built by the C parser
(``fastpath.py``, which gives the row this path would); the engine parses the rest. One query per batch
parses each text three times in C++ (``from_json`` with every scalar read as JSON text, so its type is
its first character, and ``json_keys`` of the record and of its steps) and flags, with plain list and
string tests, every record a rule of docs/formats.md ("Defined behaviour") may refuse. So a record gives
the same row whatever file, chunk or neighbours it came with. Python looks only at the few flagged texts
(``explain.py``: the reason) and at the records the SQL does not build itself (``fixups.py``: a string
``parameters``, unknown step keys, an ``extra`` to merge by hand), whose JSON texts the engine
serialises too (``normalise_json``).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from pixelis_data.readers import rules
from pixelis_data.readers.explain import explain
from pixelis_data.readers.fastpath import parse_plain
from pixelis_data.readers.fixups import rebuild
from pixelis_data.readers.pixelis import INPUT_SCHEMA, STEP_KEYS, TOP_KEYS

TRAILING_COMMA = r",\s*[\]}]"
# Texts DuckDB accepts but strict JSON does not may hold one of these (records of other formats, whose
# values the engine does not read: precheck_texts); only those go to Python.
SUSPECT = TRAILING_COMMA + r"|[:,\[]\s*[-+]?(?i:nan|inf|infinity)\s*[,\]}]"
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


def _spec(unknown: tuple[str, ...]) -> str:
    """from_json's struct spec: every value as JSON text (its type is its first character), steps as structs."""
    fields: dict = dict.fromkeys((*TOP_KEYS, *unknown), "JSON")
    fields["trajectory"] = [dict.fromkeys(STEP_KEYS, "JSON")]
    return json.dumps(fields).replace("'", "''")


def _query(read: tuple[str, ...], guard: bool) -> str:
    """SQL: each text parsed three times in C++ (values, key lists) and two tests of the raw text.

    ``read`` are the unknown fields whose values the SQL reads (plain lower-case names: struct field
    names are case-insensitive); a record with any other unknown field gets its extra from Python.
    ``guard`` wraps the parses in ``try`` (a malformed text gives nulls instead of failing the query):
    it costs a fifth of the time, so a batch is first read without it.
    """
    g = (lambda e: f"try({e})") if guard else (lambda e: e)
    return f"""
SELECT pos, {g(f"from_json(line, '{_spec(read)}')")} AS r, {g("json_keys(line)")} AS keys,
  {g("json_keys(line, '$.trajectory[*]')")} AS skeys, regexp_matches(line, '{TRAILING_COMMA}') AS _comma,
  left(ltrim(line), 1) <> '{{' AS _not_object
FROM t
"""


def _run(sql: str, table: pa.Table) -> pa.Table:
    con = _con()
    con.register("t", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("t")


def _parse_once(table: pa.Table, read: tuple[str, ...]) -> pl.DataFrame:
    import duckdb

    try:
        out = _run(_query(read, guard=False), table)
    # a text the engine cannot parse: read the batch again, that text as nulls (DuckDB's message quotes
    # the text cut at a byte count, so it may itself fail to decode)
    except (duckdb.Error, UnicodeDecodeError):
        out = _run(_query(read, guard=True), table)
    frame = pl.from_arrow(out)
    assert isinstance(frame, pl.DataFrame)
    return frame if frame["pos"].is_sorted() else frame.sort("pos")


def _readable(unknown: list[str]) -> tuple[str, ...]:
    return tuple(sorted(k for k in set(unknown) if _PLAIN.fullmatch(k)))[:MAX_UNKNOWN]


def _parse(table: pa.Table) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The engine's parse of the texts, reading the unknown fields of the previous batch, or all of them."""
    read = getattr(_local, "unknown", ())
    frame = _parse_once(table, read)
    seen = frame.select(rules.unknown_keys().explode().drop_nulls().unique())["keys"].to_list()
    wanted = _readable(seen)
    if not set(wanted) <= set(read):  # this batch's fields first, then the earlier ones while there is room
        kept = [k for k in read if k not in wanted]
        read = _local.unknown = tuple(sorted([*wanted, *kept][:MAX_UNKNOWN]))
        frame = _parse_once(table, read)
    return frame, read


_VALUES = """
SELECT pos, CASE WHEN starts_with(images, '[') THEN try(from_json(images, '["JSON"]')) END AS imgs,
  CASE WHEN starts_with(extra, '{') THEN try(json_keys(extra)) END AS ekeys
FROM t
"""


def _value_lists(frame: pl.DataFrame) -> pl.DataFrame:
    """``imgs`` (the JSON texts of a list ``images``) and ``ekeys`` (the keys of an object ``extra``).

    Only the rows that have such values go to the engine again; they are few, and their values short.
    """
    images, extra = rules.field("images"), rules.field("extra")
    needed = images.str.starts_with("[") | (extra.str.starts_with("{") & (rules.unknown_keys().list.len() > 0))
    wanted = frame.filter(needed.fill_null(False)).select("pos", images.alias("images"), extra.alias("extra"))
    schema = {"imgs": pl.List(pl.String), "ekeys": pl.List(pl.String)}
    if wanted.height == 0:
        return frame.with_columns(pl.lit(None, dtype=dt).alias(n) for n, dt in schema.items())
    found = pl.from_arrow(_run(_VALUES, wanted.to_arrow()))
    assert isinstance(found, pl.DataFrame)
    found = found.select("pos", *[pl.col(n).cast(dt) for n, dt in schema.items()])
    return frame.join(found, on="pos", how="left", maintain_order="left")


@dataclass(frozen=True)
class Parsed:
    """One batch of texts after the parse (``query``), before the rules (``finish``)."""

    frame: pl.DataFrame
    """The engine's parse of the texts the fast path left to it (all of them without the extension)."""
    read: tuple[str, ...]
    """The unknown fields whose values the SQL read."""
    plain: pl.DataFrame | None = None
    """The rows the C parser built (``fastpath.py``), with ``_pos``; None without the extension."""
    rest: np.ndarray | None = None
    """Positions of the texts ``frame`` parsed (None: all of them)."""
    trajectory: pa.Array | None = None
    """The C parser's Arrow ``trajectory`` of every text, when it parsed them all (``Plain.trajectory``)."""


def _engine_query(texts: pa.Array) -> tuple[pl.DataFrame, tuple[str, ...]]:
    pos = pa.array(range(len(texts)), pa.int64())
    table = pa.table({"pos": pos, "line": texts.cast(pa.large_string())})
    # small record batches let DuckDB spread one chunk over its threads
    table = pa.Table.from_batches(table.to_batches(max_chunksize=ENGINE_BATCH), table.schema)
    return _parse(table)


def query(texts: pa.Array) -> Parsed:
    """The parse of ``parse_texts`` (C and C++ without the GIL: it may run in another thread than ``finish``).

    Plain records are built by the C parser; the engine parses only the others.
    """
    fast = parse_plain(texts)
    if fast is None:
        return Parsed(*_engine_query(texts))
    if len(fast.rest):
        return Parsed(*_engine_query(texts.take(pa.array(fast.rest))), fast.frame, fast.rest)
    return Parsed(pl.DataFrame(), (), fast.frame, fast.rest, fast.trajectory)


def finish(parsed: Parsed, texts: pa.Array) -> pl.DataFrame:
    """Rows of the input schema with ``_pos`` and ``_type_reason``, in text order: the C parser's rows and
    the rules over the engine's parse of the other texts."""
    if parsed.rest is None:
        return _finish_engine(parsed, texts)
    assert parsed.plain is not None
    if len(parsed.rest) == 0:
        return parsed.plain
    rest = _finish_engine(parsed, texts.take(pa.array(parsed.rest)))
    rest = rest.with_columns(pl.Series("_pos", parsed.rest, dtype=pl.Int64).gather(rest["_pos"]))
    return pl.concat([parsed.plain, rest]).sort("_pos")


def _finish_engine(parsed: Parsed, texts: pa.Array) -> pl.DataFrame:
    """The rules over the engine's parse of ``texts``: rows of the input schema with ``_type_reason``."""
    frame = _value_lists(parsed.frame).with_columns(rules.unknown_object(parsed.frame, parsed.read))
    frame = frame.select(
        "pos",
        rules.check().alias("_check"),
        rules.refused().alias("_refused"),
        rules.fix(parsed.read).alias("_fix"),
        *[e.alias(n) for n, e in rules.columns().items()],
        pl.lit(None, dtype=pl.String).alias("_type_reason"),
    )
    frame = _explain_flagged(frame, texts)
    frame = _fix_rows(frame, texts)
    return frame.select(
        pl.col("pos").alias("_pos"), *[pl.col(c).cast(dt) for c, dt in INPUT_SCHEMA.items()], "_type_reason"
    )


def parse_texts(texts: pa.Array) -> pl.DataFrame:
    """Rows of the input schema, row i from ``texts[i]``, with ``_pos`` and ``_type_reason`` (null when fine).

    ``texts`` is an Arrow string array of JSON records (blank texts are no records: callers drop them).
    The rows depend on nothing but each text: not on which path parsed it, nor on which unknown fields
    the SQL read (one it did not read is merged by Python).
    """
    return finish(query(texts), texts)


def parse_texts_engine(texts: pa.Array) -> pl.DataFrame:
    """``parse_texts`` with every text on the engine path (the reference the C parser is tested against)."""
    return finish(Parsed(*_engine_query(texts)), texts)


def _explain_flagged(frame: pl.DataFrame, texts: pa.Array) -> pl.DataFrame:
    """Rows the engine flagged get the Python reason (malformed, duplicate key, NaN, ...), if it finds one.

    The rows Python builds are judged too: the rules do not look inside the values that only Python reads.
    """
    reasons: dict[int, str] = {}
    for p, refused in frame.filter(pl.col("_check") | pl.col("_fix")).select("pos", "_refused").iter_rows():
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
