"""The rules of docs/formats.md ("Defined behaviour") over the engine's parse, as Polars expressions.

The engine (``engine.py``) hands back, per record text, ``r``: every field as the JSON text of its value
(so a value's type is its first character), ``keys`` / ``skeys``: the key lists of the record and of its
steps, and two tests of the raw text. These expressions flag what Python must judge (``_check``: the
reason comes from ``explain.py``), mark what Python must build (``_fix``: ``fixups.py``) and build the
input-schema columns of everything else, so a record's row depends on nothing but its own text.
"""

from __future__ import annotations

import polars as pl

from pixelis_data.readers.explain import TEXT_FIELDS
from pixelis_data.readers.pixelis import STEP_KEYS, TOP_KEYS

# NaN / Infinity in the engine's compact JSON text of a value (it writes them as they were spelled): a
# whole value, or one after ':' ',' '['; a string that merely holds such text is a false alarm that
# explain.py clears
_STARTS = tuple(
    f"{before}{sign}{a}{b}"
    for before in ":,["
    for sign in ("", "-")
    for first, second in (("N", "A"), ("I", "N"))
    for a in (first, first.lower())
    for b in (second, second.lower())
)
KEYS = pl.col("keys")
SKEYS = pl.col("skeys")
TRAJ = pl.col("r").struct.field("trajectory")
STEP = pl.element()


def field(name: str) -> pl.Expr:
    return pl.col("r").struct.field(name)


def is_text(value: pl.Expr) -> pl.Expr:
    """A JSON string or null (the engine gives null for a JSON null)."""
    return value.is_null() | value.str.starts_with('"')


def text(value: pl.Expr) -> pl.Expr:
    """The string a JSON string text holds; only texts with an escape are decoded."""
    escaped = value.str.starts_with('"') & value.str.contains("\\", literal=True)
    decoded = pl.when(escaped).then(value).str.json_decode(pl.String)
    return pl.when(escaped).then(decoded).otherwise(value.str.head(-1).str.tail(-1))


def non_finite(value: pl.Expr) -> pl.Expr:
    """The JSON text may hold NaN or Infinity (an Aho-Corasick scan: no regex over every text)."""
    return value.str.contains_any(list(_STARTS)) | value.str.contains(r"^-?(?:[Nn][Aa]|[Ii][Nn])")


def _any_step(test: pl.Expr) -> pl.Expr:
    return TRAJ.list.eval(test).list.any().fill_null(False)


def unknown_keys() -> pl.Expr:
    """The record's keys that are no pixelis field, in record order."""
    return KEYS.list.eval(STEP.filter(~STEP.is_in(TOP_KEYS)))


def refused() -> pl.Expr:
    """The engine could not parse the text (malformed, invalid Unicode)."""
    return pl.col("r").is_null() | KEYS.is_null() | SKEYS.is_null()


def check() -> pl.Expr:
    """True where Python must judge the record: malformed, a duplicate key, a wrong type, NaN, ..."""
    action, thought = STEP.struct.field("action"), STEP.struct.field("thought")
    params, result = STEP.struct.field("parameters"), STEP.struct.field("result")
    images = pl.col("imgs").list.eval(is_text(STEP)).list.all()
    tests = [
        refused(),
        pl.col("_not_object"),
        KEYS.list.n_unique() < KEYS.list.len(),
        SKEYS.list.eval(STEP.list.len() == 0).list.any(),
        SKEYS.list.eval(STEP.list.n_unique() < STEP.list.len()).list.any(),
        KEYS.list.contains("trajectory") & TRAJ.is_null(),
        *(~is_text(field(n)) for n in TEXT_FIELDS),
        _any_step(STEP.is_null() | ~is_text(action) | ~is_text(thought)),
        ~(is_text(field("sample_id")) | field("sample_id").str.contains(r"^-?[0-9]+$")),
        ~(field("sampling_weight").is_null() | field("sampling_weight").str.contains(r"^-?[0-9][0-9.eE+-]*$")),
        ~(is_text(field("images")) | field("images").str.starts_with("[") & images.fill_null(False)),
        pl.col("_comma"),
        _any_step(non_finite(params) | (~result.str.starts_with('"') & non_finite(result))),
        non_finite(field("extra")),
        non_finite(pl.col("unk")),
    ]
    return pl.any_horizontal(t.fill_null(False) for t in tests)


def fix(read: tuple[str, ...]) -> pl.Expr:
    """True where ``fixups.py`` builds extra and trajectory: what the expressions here do not build."""
    own = field("extra")
    has_unknown = unknown_keys().list.len() > 0
    tests = [
        _any_step(STEP.struct.field("parameters").str.starts_with('"')),
        SKEYS.list.eval(STEP.list.explode(keep_nulls=False, empty_as_null=False))
        .list.eval(~STEP.is_in(STEP_KEYS))
        .list.any(),
        has_unknown & own.is_not_null() & ~own.str.starts_with("{"),
        has_unknown & own.str.starts_with("{") & (pl.col("ekeys").list.set_intersection(unknown_keys()).list.len() > 0),
        ~has_unknown & own.str.starts_with('"'),
        unknown_keys().list.eval(~STEP.is_in(list(read))).list.any(),
    ]
    return pl.any_horizontal(t.fill_null(False) for t in tests)


def _object_of(names: list[str]) -> pl.Expr:
    """The JSON object text of the unknown fields ``names`` (in that order) of every row."""
    parts: list[pl.Expr] = []
    for i, name in enumerate(names):
        parts += [pl.lit(("{" if i == 0 else ",") + f'"{name}":'), field(name).fill_null("null")]
    return pl.concat_str([*parts, pl.lit("}")])


SAME_LAYOUTS = 16  # distinct unknown-field lists in a batch built column-wise; beyond, row by row


def unknown_object(frame: pl.DataFrame, read: tuple[str, ...]) -> pl.Series:
    """Per row, the JSON object text of its unknown fields in record order (null where it has none).

    Only fields in ``read`` have values here (a row with others is built by ``fixups.py``). Records of
    one source mostly share one list of unknown fields, so each distinct list is one ``concat_str``.
    """
    keys = frame.select(unknown_keys().alias("k"))["k"]
    layout = keys.list.join("\x1f")
    layouts = [s for s in layout.unique().drop_nulls().to_list() if s]
    names = [s.split("\x1f") for s in layouts]
    readable = [n for n in names if set(n) <= set(read)]
    if not readable:
        return pl.Series("unk", [None] * frame.height, dtype=pl.String)
    if len(readable) <= SAME_LAYOUTS:
        built = [pl.when(pl.col("_layout") == "\x1f".join(n)).then(_object_of(n)) for n in readable]
        return frame.with_columns(layout.alias("_layout")).select(pl.coalesce(built).alias("unk"))["unk"]
    return _unknown_rows(frame, read)


def _unknown_rows(frame: pl.DataFrame, read: tuple[str, ...]) -> pl.Series:
    """``unknown_object`` row by row: one piece per (row, unknown field), joined per row."""
    unknown = frame.select(pl.int_range(pl.len()).alias("_row"), unknown_keys().alias("k")).explode("k")
    unknown = unknown.filter(pl.col("k").is_not_null())
    values = (
        frame.select(pl.int_range(pl.len()).alias("_row"), *[field(k).alias(k) for k in read])
        .unpivot(index="_row", variable_name="k", value_name="v")
        .join(unknown.select("_row").unique(), on="_row", how="semi")
    )
    pieces = unknown.join(values, on=["_row", "k"], how="left", maintain_order="left").select(
        "_row", pl.format('"{}":{}', pl.col("k"), pl.col("v").fill_null("null")).alias("piece")
    )
    joined = pieces.group_by("_row", maintain_order=True).agg(pl.col("piece").str.join(","))
    rows = pl.DataFrame({"_row": pl.int_range(frame.height, eager=True, dtype=joined["_row"].dtype)})
    out = rows.join(joined, on="_row", how="left", maintain_order="left")["piece"]
    return ("{" + out + "}").alias("unk")


def columns() -> dict[str, pl.Expr]:
    """The input-schema columns of a record the rules accept (``unk`` must be a column already)."""
    own, unk = field("extra"), pl.col("unk")
    extra = (
        pl.when(unk.is_null())
        .then(own)
        .when(own.is_null() | (own == "{}"))
        .then(unk)
        .otherwise(own.str.strip_suffix("}") + "," + unk.str.strip_prefix("{"))
    )
    sid = field("sample_id")
    images = field("images")
    result = STEP.struct.field("result")
    step = STEP.struct.with_fields(
        text(STEP.struct.field("action")).alias("action"),
        text(STEP.struct.field("thought")).alias("thought"),
        pl.when(result.str.starts_with('"')).then(text(result)).otherwise(result).alias("result"),
    )
    return {
        "sample_id": pl.when(sid.str.starts_with('"')).then(text(sid)).otherwise(sid),
        **{name: text(field(name)) for name in TEXT_FIELDS},
        "images": pl.when(images.str.starts_with('"'))
        .then(pl.concat_list(text(images)))
        .otherwise(pl.col("imgs").list.eval(text(STEP))),
        "trajectory": TRAJ.list.eval(step),
        "sampling_weight": field("sampling_weight").cast(pl.Float64, strict=False),
        "extra": extra,
    }
