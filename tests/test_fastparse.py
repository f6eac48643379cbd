"""The C parser of plain records (readers/fastpath.py) gives exactly the engine path's rows, or defers.

The oracle is the engine path (``parse_texts_engine``: DuckDB plus the rules of docs/formats.md). For
any text, the C parser either leaves it to that path or builds the very row it builds, byte for byte
(floats compared by their bits). Plain records must not be deferred, or the fast path would be dead.
"""

from __future__ import annotations

import json
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_data.generate.writer import generate_samples
from pixelis_data.readers import engine, fastpath
from tests.test_ingest_invariance import NOISE, RECORD

needs_c = pytest.mark.skipif(
    not fastpath.AVAILABLE, reason="the C parser is not built (pip install -e . compiles setup.py's extension)"
)


@pytest.mark.skipif(os.environ.get("PIXELIS_FASTPARSE") == "0", reason="PIXELIS_FASTPARSE=0 turns it off")
def test_the_extension_is_built_here():
    """`make setup` compiles it; without it every other test here would be skipped and prove nothing."""
    assert fastpath.AVAILABLE, "pixelis_data/readers/_fastparse.c was not compiled: rerun pip install -e ."


def as_array(texts: list[str | bytes]) -> pa.Array:
    """Texts as a large_string array, bytes not checked as UTF-8 (as the JSONL reader hands them over)."""
    raw = [t.encode() if isinstance(t, str) else t for t in texts]
    offsets = np.cumsum([0, *map(len, raw)], dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), len(raw), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(raw))]
    )


def same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Equal frames, floats by their bits (0.0 and -0.0 differ)."""
    if not a.drop("sampling_weight").equals(b.drop("sampling_weight")):
        return False
    bits = [f["sampling_weight"].fill_null(7.5).to_numpy().view(np.int64) for f in (a, b)]
    return np.array_equal(*bits) and a["sampling_weight"].is_null().equals(b["sampling_weight"].is_null())


def check(texts: list[str | bytes]) -> np.ndarray:
    """Assert the C rows equal the engine's; returns the positions the C parser deferred."""
    arr = as_array(texts)
    fast = fastpath.parse_plain(arr)
    assert fast is not None
    plain, rest = fast.frame, fast.rest
    reference = engine.parse_texts_engine(arr)
    kept = reference.filter(~pl.col("_pos").is_in(rest.tolist()))
    assert plain["_pos"].to_list() == kept["_pos"].to_list()
    assert same(plain, kept), (plain.to_dicts(), kept.to_dicts())
    assert plain["_type_reason"].is_null().all()
    # and the combined parse (what readers use) is the engine's row for every text
    assert same(engine.parse_texts(arr), reference)
    return rest


SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-(10**25), 10**25)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
    | st.sampled_from(["\x00\x01\x1f\x7f", "a/b", '"\\', "\u2028\ud7ff\U0001f600", "\b\f\n\r\t"])
)
VALUE = st.recursive(SCALAR, lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=3), v, max_size=3))
TEXT = st.none() | st.text(max_size=8) | st.sampled_from(["é\u2028", 'say "hi"', "back\\slash", "\x00"])
STEP = st.fixed_dictionaries(
    {"action": TEXT},
    optional={"thought": TEXT, "parameters": st.none() | st.dictionaries(st.text(max_size=3), VALUE), "result": VALUE},
)
PLAIN = st.fixed_dictionaries(
    {"trajectory": st.lists(STEP, max_size=4)},
    optional={
        "sample_id": st.text(min_size=1, max_size=6) | st.integers(-(10**20), 10**20),
        "question": TEXT,
        "answer": TEXT,
        "ground_truth": TEXT,
        "task_type": TEXT,
        "sample_type": TEXT,
        "image_path": TEXT,
        "source_format": TEXT,
        "images": st.none() | st.text(max_size=4) | st.lists(st.text(max_size=4), max_size=3),
        "sampling_weight": st.none() | st.floats(0, 1e300) | st.integers(-3, 10**30),
        "image_size": VALUE,
        "zz_note": VALUE,
    },
)


def spelled(record: dict, ascii_only: bool, spaced: bool) -> str:
    separators = (" , ", " :\t") if spaced else (",", ":")
    return json.dumps(record, ensure_ascii=ascii_only, separators=separators)


@needs_c
@settings(max_examples=150, deadline=None)
@given(records=st.lists(PLAIN, min_size=1, max_size=6), ascii_only=st.booleans(), spaced=st.booleans())
def test_plain_records_are_built_in_c_exactly_as_the_engine_builds_them(records, ascii_only, spaced):
    texts = [spelled(r, ascii_only, spaced) for r in records]
    assert check(texts).tolist() == []  # none deferred: these are all plain


@needs_c
@settings(max_examples=100, deadline=None)
@given(
    records=st.lists(PLAIN, min_size=1, max_size=4),
    extra=st.none() | st.just({}) | st.dictionaries(st.text(max_size=3), VALUE, max_size=2),
)
def test_an_own_extra_beside_unknown_fields_is_built_or_deferred_like_the_engine(records, extra):
    check([json.dumps({**r, "extra": extra}) for r in records])


@needs_c
@settings(max_examples=100, deadline=None)
@given(records=st.lists(RECORD, min_size=1, max_size=6), noise=st.lists(NOISE, max_size=3))
def test_any_record_is_either_deferred_or_given_the_engines_row(records, noise):
    texts = [json.dumps(r, ensure_ascii=False) for r in records] + [n for n in noise if n.strip()]
    check(texts)


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    record=PLAIN,
    edits=st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.sampled_from(list(b'"\\{}[],:0-eE.n \x00\xff\xc3')),
            st.sampled_from(["insert", "delete", "replace"]),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_a_mutated_text_is_either_deferred_or_given_the_engines_row(record, edits):
    """Bytes flipped, cut or added anywhere: never a row the engine would not give (not UTF-8: deferred)."""
    text = bytearray(spelled(record, False, False).encode())
    for at, byte, how in edits:
        i = at % (len(text) + 1)
        if how == "insert":
            text[i:i] = bytes([byte])
        elif i < len(text):
            text[i : i + 1] = b"" if how == "delete" else bytes([byte])
    try:
        text.decode()
    except UnicodeDecodeError:  # the readers reject such a line before parsing; the C parser defers it too
        fast = fastpath.parse_plain(as_array([bytes(text)]))
        assert fast is not None and fast.rest.tolist() == [0]
        return
    check([bytes(text), spelled(record, True, True)])


DEFERRED = {
    "a duplicate key": '{"trajectory":[],"question":"a","question":"b"}',
    "a duplicate unknown key": '{"trajectory":[],"zz":1,"zz":2}',
    "a duplicate step key": '{"trajectory":[{"action":"A","action":"B"}]}',
    "a lone high surrogate": '{"trajectory":[],"question":"\\ud800"}',
    "a lone low surrogate": '{"trajectory":[],"question":"\\udc00x"}',
    "a BOM": '\ufeff{"trajectory":[]}',
    "NaN": '{"trajectory":[],"sampling_weight":NaN}',
    "Infinity in parameters": '{"trajectory":[{"action":"A","parameters":{"x":Infinity}}]}',
    "a trailing comma": '{"trajectory":[],}',
    "string parameters": '{"trajectory":[{"action":"A","parameters":"{\\"x\\": 1}"}]}',
    "an unknown step key": '{"trajectory":[{"action":"A","zz":1}]}',
    "an empty step": '{"trajectory":[{}]}',
    "a float inside a value": '{"trajectory":[{"action":"A","parameters":{"bbox":[0.5,1e5]}}]}',
    "a number as question": '{"trajectory":[],"question":7}',
    "a string weight": '{"trajectory":[],"sampling_weight":"1"}',
    "no trajectory": '{"question":"q"}',
    "a null trajectory": '{"trajectory":null}',
    "an unknown name that is not plain": '{"trajectory":[],"Image Size":[1,2]}',
    "a string extra": '{"trajectory":[],"extra":"{}"}',
    "extra beside unknown fields": '{"trajectory":[],"extra":{"a":1},"zz":2}',
    "a null image": '{"trajectory":[],"images":[null]}',
    "an overflowing weight": '{"trajectory":[],"sampling_weight":1e400}',
    "text after the object": '{"trajectory":[]} x',
    "not an object": "[1]",
}
PLAIN_CASES = {
    "escapes of every kind": '{"trajectory":[{"action":"A\\u00e9\\/","result":{"k":"\\b\\u0001\\ud83d\\ude00"}}]}',
    "-0 and huge integers": '{"sample_id":-0,"trajectory":[{"result":[-0,123456789012345678901234567890]}],'
    '"sampling_weight":-0}',
    "whitespace everywhere": ' \t{ "trajectory" : [ { "action" : "A" , "parameters" : { } } ] ,'
    ' "images" : "x.png" }\r ',
    "unknown fields in record order": '{"zb":1,"trajectory":[],"za":[true,false,null]}',
    "an empty own extra beside unknown fields": '{"trajectory":[],"extra":{},"zz":{"a":[]}}',
}


@needs_c
@pytest.mark.parametrize("text", DEFERRED.values(), ids=DEFERRED.keys())
def test_texts_the_rules_must_judge_are_deferred(text):
    assert check([text]).tolist() == [0]


@needs_c
@pytest.mark.parametrize("text", PLAIN_CASES.values(), ids=PLAIN_CASES.keys())
def test_awkward_but_plain_texts_are_built_in_c(text):
    assert check([text]).tolist() == []


@needs_c
def test_a_sliced_array_is_read_from_its_own_offset():
    texts = [json.dumps({"trajectory": [], "question": f"q{i}"}) for i in range(10)]
    arr = pa.array(texts, pa.large_string()).slice(3, 4)
    fast = fastpath.parse_plain(arr)
    assert fast is not None
    assert fast.frame["question"].to_list() == ["q3", "q4", "q5", "q6"]


@needs_c
def test_without_the_extension_every_text_takes_the_engine_path(monkeypatch):
    texts = as_array([json.dumps({"trajectory": [], "question": "q"}), "{bad"])
    with_c = engine.parse_texts(texts)
    monkeypatch.setattr(fastpath, "_fastparse", None)
    assert fastpath.parse_plain(texts) is None
    assert same(engine.parse_texts(texts), with_c)


@needs_c
def test_the_generated_demo_data_is_all_plain():
    """What `pixelis generate` writes (floats nowhere inside values) never needs the engine."""
    texts = [json.dumps(r, ensure_ascii=False) for r in generate_samples(300, seed=3)]
    assert check(texts).tolist() == []


def _numpy_line_offsets(data: bytes) -> list[int]:
    """The lines' offsets, plainly: after every line break, and the end of an unterminated last line."""
    ends = [i + 1 for i, byte in enumerate(data) if byte == 10]
    if data and data[-1] != 10:
        ends.append(len(data))
    return [0, *ends]


@needs_c
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64) | st.lists(st.sampled_from([b"\n", b"{}", b"\r\n", b" ", b"x" * 9])).map(b"".join))
def test_c_line_offsets_equal_a_plain_scan(data):
    offsets = fastpath.line_offsets(pa.py_buffer(data))
    assert offsets.dtype == np.int64
    assert offsets.tolist() == _numpy_line_offsets(data)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=64))
def test_line_offsets_without_the_extension_equal_a_plain_scan(data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fastpath, "_fastparse", None)
        assert fastpath.line_offsets(pa.py_buffer(data)).tolist() == _numpy_line_offsets(data)
