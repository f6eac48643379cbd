"""JSON array files read incrementally: the same values as json.loads, damage confined to rejects."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelis_data.readers import InputError, read_batches
from pixelis_data.readers.files import load_json_items

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=6)
    | st.sampled_from(['"]}', "\\", "[{", "é\u2028"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


def stream(path, block_bytes: int = 1 << 20):
    return [(i.value, i.index, i.error) for i in load_json_items(path, block_bytes)]


def rec(i: int) -> dict:
    return {
        "sample_id": f"s{i}",
        "question": "q",
        "answer": "a",
        "trajectory": [{"action": "ZoomIn", "parameters": {"bbox": [i, 2, 3, 4]}}],
    }


@SETTINGS
@given(
    values=st.lists(VALUES, max_size=8),
    indent=st.sampled_from([None, 0, 2]),
    wrapped=st.booleans(),
    block=st.sampled_from([1, 2, 7, 64, 1 << 20]),
    ascii_only=st.booleans(),
)
def test_stream_equals_json_loads(tmp_path, values, indent, wrapped, block, ascii_only):
    doc = {"before": [1, {"x": "]"}], "samples": values, "after": "}"} if wrapped else values
    path = tmp_path / "a.json"
    path.write_bytes(json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode())
    assert stream(path, block) == [(v, i, None) for i, v in enumerate(values)]


@SETTINGS
@given(
    data=st.lists(
        st.sampled_from(
            [
                b"[",
                b"]",
                b"{",
                b"}",
                b",",
                b'"',
                b"\\",
                b" ",
                b"1",
                b"-",
                b"e",
                b".",
                b"true",
                b"nul",
                b'"k":',
                b"\xc3\xa9",
                b"\xff",
            ]
        ),
        max_size=24,
    ).map(b"".join),
    block=st.sampled_from([1, 3, 1 << 20]),
)
def test_arbitrary_bytes_agree_with_json_loads(tmp_path, data, block):
    path = tmp_path / "b.json"
    path.write_bytes(data)
    try:
        expected = json.loads(data)
    except ValueError:
        expected = None
    try:
        got = stream(path, block)
    except InputError as err:
        assert str(err).startswith(str(path))
        assert not isinstance(expected, list)  # a valid list is always read
        return
    if isinstance(expected, list):
        assert json.dumps([v for v, _, _ in got]) == json.dumps(expected)
    if any(error for _, _, error in got):
        assert expected is None  # only invalid JSON gives rejected elements


def test_malformed_elements_become_rejects_and_reading_goes_on(tmp_path):
    path = tmp_path / "m.json"
    good = [json.dumps(rec(i)) for i in range(4)]
    path.write_text(
        "[\n" + ",\n".join([good[0], '{"sample_id": "x" "oops"}', good[1], "tru", good[2], good[3]]) + "\n]\n"
    )
    batches = list(read_batches(path))
    rejects = [r for b in batches for r in b.rejects]
    assert sum(b.frame.height for b in batches) == 4
    assert [(r.index, r.raw) for r in rejects] == [(1, '{"sample_id": "x" "oops"}'), (3, "tru")]
    assert all(r.reason.startswith("malformed JSON: ") for r in rejects)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1}, {"b": ', r"not valid JSON \(the file ends inside a value starting at character 11\)"),
        ('[{"a": 1} {"b": 2}]', r"expected ',' or '\]' after record 0, found '\{'"),
        ("[1, 2] [3]", r"extra data after the top-level value"),
        ('{"meta": 1}', r'expected a JSON list of records or \{"samples": \[\.\.\.\]\}'),
        ('"text"', r"found '\"' at the start"),
        ("   \n", r"the file holds no JSON value"),
    ],
)
def test_files_that_are_not_containers_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=r"bad\.json: .*" + message):
        stream(path)


def test_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'[{"q": "caf\xe9"}]')
    with pytest.raises(InputError, match=r"latin\.json: not UTF-8 text"):
        stream(path)


def test_reading_is_incremental(tmp_path):
    # the first records come out before the damage at the end of the file is even read
    path = tmp_path / "tail.json"
    path.write_text("[" + ",".join(json.dumps(rec(i)) for i in range(2000)) + ', {"broken": ')
    items = iter(load_json_items(path, block_bytes=4096))
    first = next(items)
    assert first.value == rec(0) and first.index == 0
    with pytest.raises(InputError, match="the file ends inside a value"):
        list(items)


def test_batches_detection_and_progress(tmp_path, monkeypatch):
    monkeypatch.setattr("pixelis_data.readers.texts.ITEM_BATCH", 3)
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"samples": [rec(i) for i in range(8)]}))
    done: list[int] = []
    batches = list(read_batches(path, progress=done.append))
    assert [b.n_input for b in batches] == [3, 3, 2]
    assert [sid for b in batches for sid in b.frame["sample_id"]] == [f"s{i}" for i in range(8)]
    assert {a for b in batches for s in b.frame["trajectory"] for a in s.struct.field("action")} == {"ZOOM_IN"}
    assert sum(done) == path.stat().st_size


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_deeply_nested_records_are_rejects_not_crashes(tmp_path, suffix):
    deep = "[" * 100_000 + "]" * 100_000
    good = json.dumps(rec(0))
    path = tmp_path / f"deep{suffix}"
    path.write_text(f"[{good}, {deep}]" if suffix == ".json" else f"{good}\n{deep}\n")
    batches = list(read_batches(path))
    rejects = [r for b in batches for r in b.rejects]
    assert sum(b.frame.height for b in batches) == 1 and len(rejects) == 1
    assert "deep" in rejects[0].reason or "recursion" in rejects[0].reason


def test_keep_text_gives_each_element_as_written(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[ {"a": [1,\n 2]} ,"x",\t3 ]')
    items = list(load_json_items(path, block_bytes=2, keep_text=True))
    assert [(i.value, i.text, i.index) for i in items] == [
        (None, '{"a": [1,\n 2]}', 0),
        (None, '"x"', 1),
        (None, "3", 2),
    ]


def test_pixelis_json_arrays_jsonl_and_parquet_give_the_same_rows(tmp_path):
    records = [rec(i) for i in range(5)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "a.json").write_text(json.dumps({"samples": records}, indent=2))
    via_jsonl = list(read_batches(tmp_path / "a.jsonl"))
    via_json = list(read_batches(tmp_path / "a.json"))
    assert via_json[0].frame.equals(via_jsonl[0].frame)
    # the canonical rows written as Parquet read back as the same rows (one parsing path for all three)
    via_jsonl[0].frame.write_parquet(tmp_path / "a.parquet")
    via_parquet = list(read_batches(tmp_path / "a.parquet"))
    assert via_parquet[0].frame.equals(via_jsonl[0].frame)


def test_a_bad_pixelis_record_in_a_json_array_is_rejected_with_its_index_and_text(tmp_path):
    records = [rec(0), {"sample_id": "bad", "trajectory": "nope"}, rec(1)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "a.json").write_text(json.dumps(records, indent=2))
    (via_jsonl,) = read_batches(tmp_path / "a.jsonl")
    (via_json,) = read_batches(tmp_path / "a.json")
    assert via_json.frame.equals(via_jsonl.frame) and via_json.frame.height == 2
    (reject,) = via_json.rejects
    assert (reject.index, reject.line, json.loads(reject.raw)) == (1, None, records[1])
    assert reject.reason == via_jsonl.rejects[0].reason
