"""The JSON engine's shortcuts give the rows its plain path gives: a record's row depends on its text alone."""

from __future__ import annotations

import json
import threading

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.readers import engine, rules
from tests.test_ingest_invariance import NOISE, RECORD

UNKNOWN = st.dictionaries(
    st.sampled_from(["image_size", "zz", "note", "Image Size", "a.b", "extra_id"]),
    st.none() | st.integers(-3, 3) | st.text(max_size=4) | st.lists(st.integers(0, 9), max_size=3),
    max_size=3,
)


def parse_in_new_thread(texts: list[str], guess: tuple[str, ...]) -> pl.DataFrame:
    """The engine path of ``parse_texts`` in a fresh thread, its engine starting from ``guess`` as unknown fields."""
    out: dict[str, pl.DataFrame] = {}

    def work() -> None:
        engine._local.unknown = guess
        out["frame"] = engine.parse_texts_engine(pa.array(texts, pa.large_string()))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return out["frame"]


def texts_of(records: list[dict], unknown: list[dict]) -> list[str]:
    return [json.dumps({**r, **u}, ensure_ascii=False) for r, u in zip(records, unknown, strict=False)]


@settings(max_examples=30, deadline=None)
@given(records=st.lists(RECORD, min_size=1, max_size=6), unknown=st.lists(UNKNOWN, min_size=6, max_size=6))
def test_rows_do_not_depend_on_the_unknown_fields_the_engine_read_before(records, unknown):
    texts = texts_of(records, unknown)
    plain = parse_in_new_thread(texts, ())
    for guess in [("image_size",), ("note", "zz"), tuple(f"f{i}" for i in range(engine.MAX_UNKNOWN))]:
        assert parse_in_new_thread(texts, guess).equals(plain)


@settings(max_examples=30, deadline=None)
@given(records=st.lists(RECORD, min_size=1, max_size=6), unknown=st.lists(UNKNOWN, min_size=6, max_size=6))
def test_unknown_fields_built_per_layout_equal_those_built_row_by_row(records, unknown):
    texts = texts_of(records, unknown)
    by_layout = parse_in_new_thread(texts, ())
    saved = rules.SAME_LAYOUTS
    rules.SAME_LAYOUTS = 0  # every batch takes the row-by-row path
    try:
        by_row = parse_in_new_thread(texts, ())
    finally:
        rules.SAME_LAYOUTS = saved
    assert by_row.equals(by_layout)


@settings(max_examples=30, deadline=None)
@given(records=st.lists(RECORD, min_size=1, max_size=6), noise=st.lists(NOISE, min_size=1, max_size=3))
def test_a_text_the_engine_cannot_parse_leaves_the_other_rows_as_they_were(records, noise):
    """A malformed text makes the engine read the batch again, guarded: the good rows stay the same."""
    texts = texts_of(records, [{}] * len(records))
    alone = parse_in_new_thread(texts, ())
    bad = [n for n in noise if n.strip()] or ["{bad"]
    mixed = parse_in_new_thread([*texts, *bad], ())
    assert mixed.head(len(texts)).equals(alone)


def test_nan_and_infinity_are_found_only_as_numbers():
    """The rules flag the engine's NaN / Infinity however spelled, not the text "NaN" inside a string."""
    values = pl.Series(["NaN", "-Infinity", '{"x":inf}', "[1,nan]", '{"a":"NaN"}', '"Infinity"', "null", "[-1]"])
    found = pl.DataFrame({"v": values}).select(rules.non_finite(pl.col("v")))["v"].to_list()
    assert found == [True, True, True, True, False, False, False, False]


def flat(batches) -> tuple[list, list, list, int]:
    texts, indices, early, size = [], [], [], 0
    for b in batches:
        texts += b.texts.to_pylist()
        indices += [] if b.indices is None else b.indices.tolist()
        early += [(r.reason, r.index, r.raw) for r in b.early]
        size += b.bytes_done
    return texts, indices, early, size


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(RECORD, max_size=7),
    bad=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(['{"a" 1}', "{bad", "[1, 2", '{"x": 1,}'])), max_size=2),
    spacing=st.sampled_from(["", " ", "\n  "]),
    batch=st.sampled_from([1, 2, 1000]),
)
def test_json_arrays_cut_by_the_engine_equal_the_streamers_cut(tmp_path_factory, records, bad, spacing, batch):
    """The engine cuts a JSON array as the Python streamer does; where it gives up, the streamer goes on."""
    from pixelis_data.readers import texts

    elements = [json.dumps(r, ensure_ascii=False) for r in records]
    for at, text in bad:
        elements.insert(min(at, len(elements)), text)
    path = tmp_path_factory.mktemp("arr") / "a.json"
    path.write_text("[" + spacing + ("," + spacing).join(elements) + spacing + "]", encoding="utf-8")
    saved = texts.ITEM_BATCH
    texts.ITEM_BATCH = batch  # several batches before a bad element, so the engine stops midway
    try:
        try:
            streamed = flat(texts._streamed_json_batches(path))
        except Exception as err:  # a file the streamer refuses as a whole is refused the same way
            with pytest.raises(type(err)):
                flat(texts.json_text_batches(path))
            return
        both = flat(texts.json_text_batches(path))
    finally:
        texts.ITEM_BATCH = saved
    assert both[:3] == streamed[:3]
    assert both[3] <= path.stat().st_size  # progress never runs past the file (the streamer may stop short)
