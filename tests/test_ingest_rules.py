"""The defined behaviour of docs/formats.md for every edge case, the same in JSONL, JSON and Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pixelis_data.readers import read_batches

WEIGHT = "sampling_weight must be a finite number"


def rec(i: int, **kw) -> dict:
    base = {
        "sample_id": f"s{i}",
        "question": "q?",
        "answer": "a",
        "trajectory": [{"action": "ZoomIn", "thought": "look", "parameters": {"bbox": [1, 2, 3, 4]}, "result": "ok"}],
    }
    base.update(kw)
    return base


def read(path: Path, fmt: str | None = None) -> tuple[pl.DataFrame, list]:
    batches = list(read_batches(path, fmt=fmt))
    frame = pl.concat([b.frame for b in batches])
    rejects = [r for b in batches for r in b.rejects]
    assert sum(b.n_input for b in batches) == frame.height + len(rejects)
    return frame, rejects


def both_containers(tmp_path: Path, texts: list[str]) -> list[tuple[pl.DataFrame, list]]:
    """The record texts as a JSONL file and as a JSON array (element i = line i + 1), both read."""
    (tmp_path / "r.jsonl").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (tmp_path / "r.json").write_text("[\n" + ",\n".join(texts) + "\n]", encoding="utf-8")
    return [read(tmp_path / "r.jsonl"), read(tmp_path / "r.json")]


def reasons(rejects: list) -> list[str]:
    return [r.reason for r in rejects]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"sample_id": "a", "sample_id": "b", "trajectory": [{"action": "THINK"}]}', "duplicate key 'sample_id'"),
        (
            '{"sample_id": "a", "trajectory": [{"action": "THINK", "action": "ZOOM_IN"}]}',
            "duplicate key 'action' in trajectory[0]",
        ),
        ('{"sample_id": "a", "question": "x\\ud800y", "trajectory": []}', "not valid Unicode: a lone surrogate"),
        ('{"sample_id": "a", "question": 5, "trajectory": []}', "question must be a string, got a number"),
        ('{"sample_id": "a", "answer": true, "trajectory": []}', "answer must be a string, got a boolean"),
        ('{"sample_id": "a", "task_type": ["x"], "trajectory": []}', "task_type must be a string, got a list"),
        ('{"sample_id": "a", "trajectory": [{"action": 5}]}', "trajectory[0].action must be a string, got a number"),
        ('{"sample_id": "a", "trajectory": [{"action": "T", "thought": {}}]}', "trajectory[0].thought must be a"),
        ('{"sample_id": "a", "image_path": 3, "trajectory": []}', "image_path must be a string, got a number"),
        (
            '{"sample_id": "a", "sampling_weight": "1.5", "trajectory": []}',
            'sampling_weight must be a finite number, got a string ("1.5")',
        ),
        (
            '{"sample_id": "a", "sampling_weight": true, "trajectory": []}',
            "sampling_weight must be a finite number, got a boolean (true)",
        ),
        ('{"sample_id": 7.5, "trajectory": []}', "sample_id must be a string or an integer, got a number"),
        ('{"sample_id": "a", "sampling_weight": NaN, "trajectory": []}', "malformed JSON: NaN is not a JSON value"),
        (
            '{"sample_id": "a", "trajectory": [{"action": "T", "parameters": [1, Infinity]}]}',
            "malformed JSON: Infinity is not",
        ),
        ('{"sample_id": "a", "trajectory": [{"action": "T", "parameters": nan}]}', "malformed JSON"),
        ('{"sample_id": "a", "trajectory": [{"action": "T", "result": {"x": [-Infinity]}}]}', "malformed JSON"),
        ('{"sample_id": "a", "extra": {"deep": {"x": inf}}, "trajectory": []}', "malformed JSON"),
        ('{"sample_id": "a", "image_size": [1, NaN], "trajectory": []}', "malformed JSON: NaN is not"),
        ('{"sample_id": "a", "trajectory": [{"action": "T", "zz": NaN}]}', "malformed JSON: NaN is not"),
        ('{"sample_id": "a", "images": ["x", NaN], "trajectory": []}', "malformed JSON: NaN is not"),
        ('{"sample_id": "a", "trajectory": [{"action": "T",}]}', "malformed JSON"),
        ('{"sample_id": "a", "trajectory": [],}', "malformed JSON"),
        ('{"sample_id": "a", "trajectory": [5]}', "trajectory[0] must be an object, got a number"),
        ('{"sample_id": "a", "trajectory": [null]}', "trajectory[0] is null"),
        ('{"sample_id": "a", "trajectory": "steps"}', "trajectory must be a list, got a string"),
        ('{"sample_id": "a", "images": [1], "trajectory": []}', "images must be a list of paths (strings)"),
        ('["not", "an", "object"]', "expected a JSON object, got a list"),
    ],
)
def test_each_edge_case_is_one_reject_with_the_same_reason_in_jsonl_and_json(tmp_path, text, reason):
    good = json.dumps(rec(0))
    for frame, rejects in both_containers(tmp_path, [good, text]):
        assert frame["sample_id"].to_list() == ["s0"]
        assert len(rejects) == 1 and rejects[0].reason.startswith(reason), rejects
        assert rejects[0].raw == text


def test_a_malformed_line_whose_engine_message_cuts_a_character_is_a_reject(tmp_path):
    """DuckDB's error message quotes the text cut at a byte count, here inside a multi-byte character."""
    text = '"{"ground_truth":"0000\\"\\"","sample_type":"\x80\u0800","trajectory":[]}'
    (tmp_path / "r.jsonl").write_text(json.dumps(rec(0)) + "\n" + text + "\n", encoding="utf-8")
    frame, rejects = read(tmp_path / "r.jsonl")
    assert frame["sample_id"].to_list() == ["s0"]
    assert [(r.line, r.raw) for r in rejects] == [(2, text)] and rejects[0].reason.startswith("malformed JSON")


def test_a_duplicate_key_is_a_reject_in_every_format(tmp_path):
    chat = '{"messages": [{"role": "user", "content": "q"}], "messages": []}'
    path = tmp_path / "chat.jsonl"
    path.write_text(chat + "\n")
    _, rejects = read(path, fmt="qwen_tool_calls")
    assert reasons(rejects) == ["duplicate key 'messages'"]


def test_a_utf8_bom_at_the_start_of_the_file_is_skipped_in_jsonl_and_json(tmp_path):
    records = [rec(0), rec(1)]
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in records).encode())
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(records).encode())
    for name in ("b.jsonl", "b.json"):
        frame, rejects = read(tmp_path / name)
        assert frame["sample_id"].to_list() == ["s0", "s1"] and rejects == []
    # elsewhere a BOM is a character like any other: a line starting with one is not JSON
    (tmp_path / "mid.jsonl").write_bytes(
        (json.dumps(rec(0)) + "\n").encode() + b"\xef\xbb\xbf" + json.dumps(rec(1)).encode() + b"\n"
    )
    frame, rejects = read(tmp_path / "mid.jsonl")
    assert frame["sample_id"].to_list() == ["s0"] and rejects[0].line == 2
    assert rejects[0].reason.startswith("malformed JSON")


def test_scalars_and_parameters_follow_the_documented_rules(tmp_path):
    texts = [
        json.dumps(rec(0, sample_id=7)),  # an integer id is its decimal text
        json.dumps(rec(1, trajectory=[{"action": "ZOOM_IN", "parameters": "notadict"}])),
        json.dumps(rec(2, trajectory=[{"action": "ZOOM_IN", "parameters": '{"bbox": [1, 2.50]}'}])),
        json.dumps(rec(3, trajectory=[{"action": "ZOOM_IN", "parameters": {"bbox": [1, 2.50]}, "result": 5}])),
        json.dumps(rec(4, sampling_weight=2)),
        json.dumps(rec(5, images="one.png")),
    ]
    for frame, rejects in both_containers(tmp_path, texts):
        assert rejects == []
        rows = {r["sample_id"]: r for r in frame.to_dicts()}
        assert set(rows) == {"7", "s1", "s2", "s3", "s4", "s5"}
        assert rows["s1"]["trajectory"][0]["parameters"] == '"notadict"'  # always JSON text: a JSON string
        assert rows["s2"]["trajectory"][0]["parameters"] == '{"bbox":[1,2.5]}'  # a string holding JSON: that JSON
        assert rows["s3"]["trajectory"][0]["parameters"] == '{"bbox":[1,2.5]}'
        assert rows["s3"]["trajectory"][0]["result"] == "5"  # a non-string result is its JSON text
        assert rows["s4"]["sampling_weight"] == 2.0
        assert rows["s5"]["images"] == ["one.png"]


def test_extra_is_the_same_text_in_jsonl_json_and_with_the_records_own_extra(tmp_path):
    texts = [
        json.dumps(rec(0, image_size=[3, 4], note={"k": 1.50})),
        json.dumps(rec(1, extra={"a": 1}, image_size=[3, 4])),
        json.dumps(rec(2, extra={"image_size": 0}, image_size=[3, 4])),  # the unknown field wins
        json.dumps(rec(3, extra='{"a": 1}', u=None)),  # extra as JSON text
        json.dumps(rec(4, trajectory=[{"action": "THINK", "zz": [1, 2]}])),  # unknown step keys
    ]
    want = {
        "s0": '{"image_size":[3,4],"note":{"k":1.5}}',
        "s1": '{"a":1,"image_size":[3,4]}',
        "s2": '{"image_size":[3,4]}',
        "s3": '{"a":1,"u":null}',
        "s4": '{"trajectory_extra":{"0":{"zz":[1,2]}}}',
    }
    for frame, rejects in both_containers(tmp_path, texts):
        assert rejects == []
        assert dict(zip(frame["sample_id"], frame["extra"], strict=True)) == want


def test_parquet_of_the_canonical_rows_reads_back_as_the_same_rows(tmp_path):
    texts = [json.dumps(rec(i, image_size=[i, 4], sample_id=i)) for i in range(4)]
    frame, _ = read_batches_of(tmp_path, texts)
    frame.write_parquet(tmp_path / "c.parquet")
    again, rejects = read(tmp_path / "c.parquet")
    assert rejects == [] and again.equals(frame)


def read_batches_of(tmp_path: Path, texts: list[str]) -> tuple[pl.DataFrame, list]:
    (tmp_path / "x.jsonl").write_text("\n".join(texts) + "\n")
    return read(tmp_path / "x.jsonl")


def test_text_that_only_looks_like_nan_is_read_as_written(tmp_path):
    """NaN / Infinity inside strings is text, not a number: the record is read, the text kept."""
    steps = [{"action": "T", "parameters": {"label": ":NaN,Infinity", "n": [-1]}, "result": {"r": "[inf"}}]
    text = json.dumps(rec(1, trajectory=steps, extra={"note": ",nan"}, image_size=["In"]))
    for frame, rejects in both_containers(tmp_path, [text]):
        assert rejects == []
        step = frame["trajectory"][0][0]
        assert json.loads(step["parameters"]) == steps[0]["parameters"]
        assert json.loads(step["result"]) == steps[0]["result"]
        assert json.loads(frame["extra"][0]) == {"note": ",nan", "image_size": ["In"]}
