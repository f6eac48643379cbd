"""Arbitrary JSON values and bytes through every reader: never a crash, every input counted.

Whatever comes in ends up as a canonical row or as a reject with a reason (n_input == rows + rejects),
or, for a file that is not a container at all, as one clean InputError naming the file.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelis_data.readers import ADAPTERS, InputError, read_batches

FORMATS = [None, *ADAPTERS]
VOCAB = [
    "messages",
    "conversations",
    "pred_output",
    "role",
    "content",
    "from",
    "value",
    "user",
    "assistant",
    "tool",
    "system",
    "gpt",
    "human",
    "text",
    "type",
    "image",
    "image_url",
    "url",
    "video",
    "tool_calls",
    "function",
    "trajectory",
    "steps",
    "action",
    "actions",
    "name",
    "arguments",
    "parameters",
    "thought",
    "observation",
    "result",
    "operation",
    "visual_operation",
    "reasoning",
    "question",
    "answer",
    "pred_ans",
    "images",
    "sample_id",
    "id",
    "sampling_weight",
    "extra",
    "samples",
    "Terminate",
    "ZoomIn",
    "<think>t</think>",
    '<tool_call>{"name": "ZoomIn", "arguments": {"bbox": [1, 2]}}</tool_call>',
    "<tool_call>{",
    "<answer>a</answer>",
    "OBSERVATION: seen",
    '{"thought": "t", "actions": [{"name": "OCR"}]}',
    "data:image/png;base64,QUJD",
]
TEXT = st.sampled_from(VOCAB) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=25,
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def consume(path, fmt):
    """(n_input, rows, rejects) of reading ``path``; checks the invariants every batch must keep."""
    batches = list(read_batches(path, fmt=fmt))
    n_input = sum(b.n_input for b in batches)
    rows = sum(b.frame.height for b in batches)
    rejects = [r for b in batches for r in b.rejects]
    assert n_input == rows + len(rejects)
    assert all(r.reason.strip() for r in rejects)
    for b in batches:
        assert b.frame["sample_id"].null_count() == 0
        assert b.frame["trajectory"].list.eval(pl.element().struct.field("action")).explode().null_count() == 0
    return n_input, rows, rejects


def read_or_input_error(path, fmt):
    try:
        return consume(path, fmt)
    except InputError as err:
        assert path.name in str(err)
        return None


@SETTINGS
@given(values=st.lists(JSON_VALUES, min_size=1, max_size=6), fmt=st.sampled_from(FORMATS))
def test_any_json_values_as_jsonl_lines(tmp_path, values, fmt):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    got = read_or_input_error(path, fmt)
    if got is None:  # only undetectable files may fail as a whole, never a forced format
        assert fmt is None
        return
    assert got[0] == len(values)


@SETTINGS
@given(values=st.lists(JSON_VALUES, max_size=6), fmt=st.sampled_from(FORMATS), wrapped=st.booleans())
def test_any_json_values_as_a_json_array(tmp_path, values, fmt, wrapped):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps({"samples": values} if wrapped else values, indent=1))
    got = read_or_input_error(path, fmt)
    if got is None:
        assert fmt is None  # undetectable, e.g. an empty list or records of no known format
        return
    assert got[0] == len(values)


@SETTINGS
@given(
    data=st.binary(max_size=300)
    | st.lists(
        st.sampled_from([b"[", b"]", b"{", b"}", b",", b'"', b"\\", b"\n", b"1", b" ", b"\xff", b'"a"', b":"]),
        max_size=30,
    ).map(b"".join),
    fmt=st.sampled_from(FORMATS),
    suffix=st.sampled_from([".json", ".jsonl"]),
)
def test_arbitrary_bytes_never_crash(tmp_path, data, fmt, suffix):
    path = tmp_path / f"bytes{suffix}"
    path.write_bytes(data)
    got = read_or_input_error(path, fmt)
    if got is not None and suffix == ".jsonl":
        # a UTF-8 byte order mark at the very start is no text (docs/formats.md, "Defined behaviour")
        lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
        assert got[0] == sum(1 for line in lines if line.strip())


@pytest.mark.parametrize("fmt", [None, "qwen_tool_calls"])
def test_garbage_lines_are_rejected_one_by_one_beside_a_good_record(tmp_path, fmt):
    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<answer>a</answer>"}]}
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([json.dumps(chat), "{bad", "7", '"text"', json.dumps([1, 2])]) + "\n")
    n_input, rows, rejects = consume(path, fmt)
    assert (n_input, rows, len(rejects)) == (5, 1, 4)
    assert [r.line for r in rejects] == [2, 3, 4, 5]
