"""Foreign record formats -> canonical rows, asserted exactly on small hand-written fixtures.

The fixtures (tests/fixtures/formats/*.jsonl) were written from the format descriptions of docs/design.md §3.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from pixelis_data.readers import InputError, read_batches
from pixelis_data.readers.mapping import media_ref

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def J(value) -> str:
    """The JSON text the engine gives a parameters/result value: compact, non-ASCII kept (docs/formats.md)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def read_rows(path: Path | str, fmt: str | None = None) -> tuple[list[dict], list]:
    batches = list(read_batches(path, fmt=fmt))
    frame = pl.concat([b.frame for b in batches])
    rejects = [r for b in batches for r in b.rejects]
    assert sum(b.n_input for b in batches) == frame.height + len(rejects)
    rows = frame.to_dicts()
    for row in rows:
        row["extra"] = None if row["extra"] is None else json.loads(row["extra"])
    return rows, rejects


def steps(*items: tuple) -> list[dict]:
    """Canonical steps from (action, thought, parameters, result); objects become JSON text."""

    def text(value):
        return value if value is None or isinstance(value, str) else J(value)

    return [{"action": a, "thought": t, "parameters": text(p), "result": text(r)} for a, t, p, r in items]


def row(**fields) -> dict:
    base = {
        "task_type": "unknown",
        "sample_type": "positive",
        "images": [],
        "ground_truth": None,
        "sampling_weight": 1.0,
        "extra": None,
    }
    return {**base, **fields}


def only_row(name: str, fmt: str | None = None) -> dict:
    rows, rejects = read_rows(FIXTURES / name, fmt)
    assert rejects == []
    assert len(rows) == 1
    return rows[0]


def test_legacy_visual_operation_steps():
    got = only_row("legacy_visual_operation.jsonl")
    assert got == row(
        sample_id="7",
        question="What does the sign say?",
        images=["sign.png"],
        answer="STOP",
        source_format="legacy",
        trajectory=steps(
            ("THINK", "The sign is small; zoom first.", None, None),
            ("ZOOM_IN", None, {"bbox": [10, 10, 50, 50]}, "zoomed.png"),
            ("READ_TEXT", None, {"region": [10, 10, 50, 50]}, {"text": "STOP"}),
        ),
        extra={"source": "old-dump", "trajectory_extra": {"2": {"confidence": 0.8}}},
    )


def test_legacy_thought_action_steps():
    got = only_row("legacy_thought_action.jsonl")
    boxes = [
        {"label": "cup", "bbox": [1, 1, 5, 5]},
        {"label": "cup", "bbox": [6, 1, 9, 5]},
        {"label": "cup", "bbox": [11, 1, 15, 5]},
    ]
    assert got == row(
        sample_id="b1",
        task_type="object_counting",
        question="How many cups?",
        images=["cups.jpg"],
        answer="3",
        ground_truth="3",
        source_format="legacy",
        trajectory=steps(
            ("THINK", "Find the cups first.", None, None),
            ("SEGMENT_OBJECT_AT", None, {"objects": ["cup"]}, boxes),
            ("THINK", "Three boxes, so three cups.", None, None),
        ),
    )


def test_taco_steps_thoughts_actions_and_observation_of_the_last_action():
    got = only_row("taco_steps.jsonl")
    assert got == row(
        sample_id="taco-1",
        question="Which year does the chart title name?",
        images=["chart.png"],
        answer="2020",
        ground_truth="2020",
        source_format="taco",
        trajectory=steps(
            ("THINK", "Read the chart title.", None, None),
            ("READ_TEXT", None, {"image": "chart.png"}, {"text": "Sales 2020"}),
            ("THINK", "Crop the legend, then find its entries.", None, None),
            ("ZOOM_IN", None, {"bbox": [0, 0, 10, 10]}, None),
            ("SEGMENT_OBJECT_AT", None, {"image": "crop.png"}, "2 objects"),
            ("THINK", "The title names 2020.", None, None),
        ),
    )


def test_taco_chat_exports_role_content_and_sharegpt():
    rows, rejects = read_rows(FIXTURES / "taco_chat.jsonl")
    assert rejects == []
    first, second = rows
    assert {k: v for k, v in first.items() if k != "sample_id"} == row(
        question="What is written on the bus?",
        images=["street.jpg"],
        answer="Route 42",
        ground_truth="Route 42",
        source_format="taco_chat",
        trajectory=steps(
            ("THINK", "Find the bus first.", None, None),
            (
                "SEGMENT_OBJECT_AT",
                None,
                {"image": "street.jpg", "objects": ["bus"]},
                # string observations are kept as they are (not re-serialised)
                '{"regions": [{"label": "bus", "bbox": [0.1, 0.2, 0.6, 0.7]}]}',
            ),
            ("THINK", "Read the text on it.", None, None),
            ("READ_TEXT", None, {"image": "street.jpg"}, '{"text": "Route 42"}'),
            ("THINK", "It says Route 42.", None, None),
        ),
        extra={"system": "You are a visual agent. Reply with JSON."},
    )
    assert first["sample_id"].startswith("h-")
    # ShareGPT {from, value}; a Terminate with more than the answer is kept in extra
    assert {k: v for k, v in second.items() if k != "sample_id"} == row(
        question="How tall is the tower in the picture tower.png?",
        answer="30 m",
        source_format="taco_chat",
        trajectory=steps(
            ("GET_PROPERTIES", None, {"object": "tower"}, "height 30 m"),
            ("THINK", "30 m.", None, None),
        ),
        extra={"final_action": {"name": "Terminate", "arguments": {"answer": "30 m", "confidence": "high"}}},
    )


def test_qwen_free_text_before_a_call_and_image_parts():
    got = only_row("qwen_pixel_reasoner.jsonl")
    assert {k: v for k, v in got.items() if k != "sample_id"} == row(
        question="Which object is on the table?",
        images=["room.png"],
        answer="a mug",
        ground_truth="mug",
        source_format="qwen_tool_calls",
        trajectory=steps(
            ("THINK", "The table is at the bottom left. I will crop it.", None, None),
            # the engine writes the JSON text back compactly; 0.0 and 1.0 stay floats
            (
                "ZOOM_IN",
                None,
                '{"bbox_2d":[0.0,0.5,0.5,1.0],"target_image":1}',
                {"text": "Here is the cropped image:", "images": ["crop_1.png"]},
            ),
            ("THINK", "A mug is visible on the table.", None, None),
        ),
        extra={"qid": "pr-3"},
    )


def test_qwen_several_calls_per_turn_tool_turns_data_urls_and_unclosed_call():
    got = only_row("qwen_multi_call.jsonl")
    assert {k: v for k, v in got.items() if k != "sample_id"} == row(
        question="What does the sign above the door say?",
        images=["https://example.org/door.jpg"],
        answer="The sign reads EXIT.",
        source_format="qwen_tool_calls",
        trajectory=steps(
            ("THINK", "Two signs; zoom on both.", None, None),
            # one tool turn per call: paired in order; the base64 payload is not copied
            (
                "ZOOM_IN",
                None,
                {"bbox_2d": [10, 10, 60, 40], "label": "left sign"},
                {"images": ["data:image/png;base64,<8 bytes>"]},
            ),
            ("ZOOM_IN", None, {"bbox_2d": [70, 10, 120, 40]}, {"text": "crop 2", "images": ["crop2.png"]}),
            ("THINK", "The right crop is blurry. Read the left one.", None, None),
            ("READ_TEXT", None, {"image": 1}, "EXIT"),
        ),
        extra={
            "system": [{"type": "text", "text": "Tools: image_zoom_in_tool, ocr."}],
            "message_extra": {"3": {"name": "image_zoom_in_tool"}},
        },
    )


def test_qwen_openai_tool_calls_in_a_bare_message_list():
    got = only_row("qwen_openai_tool_calls.jsonl")
    assert {k: v for k, v in got.items() if k != "sample_id"} == row(
        question="Count the birds in birds.png.",
        answer="4",
        source_format="qwen_tool_calls",
        trajectory=steps(("SEGMENT_OBJECT_AT", None, {"label": "bird"}, "4 boxes")),
        extra={"message_extra": {"2": {"tool_call_id": "c1"}}},
    )


def test_qwen_deepeyes_shape_record_fields():
    got = only_row("qwen_deepeyes_like.jsonl")
    assert {k: v for k, v in got.items() if k != "sample_id"} == row(
        question="Is the dog left or right of the bench?",
        images=["park.jpg"],
        answer="A. The dog is left of the bench.",
        ground_truth="The dog is left of the bench.",
        source_format="qwen_tool_calls",
        trajectory=steps(
            ("THINK", "The dog is small; zoom in near the bench.", None, None),
            (
                "ZOOM_IN",
                None,
                {"bbox_2d": [100, 200, 300, 400]},
                {"text": "Think first.", "images": ["data:image/jpeg;base64,<0 bytes>"]},
            ),
            ("THINK", "The dog is left of the bench.", None, None),
        ),
        extra={
            "status": "success",
            "system": "You are a helpful assistant.\n# Tools\n<tools>image_zoom_in_tool</tools>",
            "prompt": "Question: Is the dog left or right of the bench?\nOptions:\nA. left\nB. right\nThink first.",
            "prompt_images": ["data:image/jpeg;base64,<0 bytes>"],
        },
    )


def test_missing_ids_get_a_stable_content_hash(tmp_path):
    a, _ = read_rows(FIXTURES / "qwen_multi_call.jsonl")
    copy = tmp_path / "copy.jsonl"
    copy.write_text((FIXTURES / "qwen_multi_call.jsonl").read_text())
    b, _ = read_rows(copy)
    assert a[0]["sample_id"] == b[0]["sample_id"] and a[0]["sample_id"].startswith("h-")


def test_the_same_records_in_a_json_array_give_the_same_rows(tmp_path):
    for path in sorted(FIXTURES.glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        array = tmp_path / (path.stem + ".json")
        array.write_text(json.dumps(records, indent=1))
        assert read_rows(array) == read_rows(path), path.name


def test_qwen_edge_cases(write_jsonl):
    chat = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "lead-in <think>plan</think> more text <tool_call>"
            '{"name": "ZoomIn", "arguments": "[1, 2, 3, 4]"}</tool_call></think>',
        },
        {"role": "user", "content": "obs"},
        {"role": "user", "content": "more obs"},
        {"role": "assistant", "content": "<answer> yes </answer> trailing words"},
        {"role": "user", "content": "thanks!"},
    ]
    rows, rejects = read_rows(write_jsonl([{"messages": chat, "id": 3}]))
    assert rejects == []
    assert rows[0]["sample_id"] == "3"
    assert rows[0]["trajectory"] == steps(
        ("THINK", "lead-in\n\nplan\n\nmore text", None, None),
        ("ZOOM_IN", None, [1, 2, 3, 4], "obs\nmore obs"),
        ("THINK", "trailing words", None, None),
    )
    assert rows[0]["answer"] == "yes"
    assert rows[0]["extra"] == {"unanswered_turns": [{"index": 5, "role": "user", "content": "thanks!"}]}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<tool_call>oops"}]},
            r"messages\[1\]: <tool_call> does not hold JSON",
        ),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<tool_call>{}"}]},
            r"messages\[1\]: a tool call has no name",
        ),
        (
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]},
            r"messages\[0\]\.content must be a string or a list of parts, got a number",
        ),
        ({"messages": [{"role": "assistant", "content": "a"}, 7]}, r"messages\[1\] is not a chat message"),
        ({"question": "no chat"}, r"no chat message list found"),
    ],
)
def test_qwen_unusable_records_are_rejected_with_a_reason(write_jsonl, record, reason):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<answer>a</answer>"}]}
    rows, rejects = read_rows(write_jsonl([good, record]), fmt="qwen_tool_calls")
    assert len(rows) == 1 and len(rejects) == 1
    assert rejects[0].line == 2
    assert re.search(reason, rejects[0].reason), rejects[0].reason


@pytest.mark.parametrize(
    ("fmt", "record", "reason"),
    [
        ("legacy", {"trajectory": [{"type": "action", "parameters": {}}]}, r"trajectory\[0\]: a action step needs"),
        ("legacy", {"trajectory": [{"type": "dance"}]}, r"trajectory\[0\]: unknown step type 'dance'"),
        ("legacy", {"trajectory": ["x"]}, r"trajectory\[0\] must be an object, got a string"),
        (
            "taco",
            {"steps": [{"thought": "t", "actions": [{"arguments": {}}]}]},
            r"steps\[0\]\.actions\[0\] has no name",
        ),
        ("taco", {"steps": [{"actions": "OCR"}]}, r"steps\[0\]\.actions must be a list"),
        (
            "taco_chat",
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "plain"}]},
            r"messages\[1\]: assistant content is not the JSON",
        ),
    ],
)
def test_legacy_and_taco_unusable_records(write_jsonl, fmt, record, reason):
    rows, rejects = read_rows(write_jsonl([record]), fmt=fmt)
    assert rows == [] and len(rejects) == 1 and re.search(reason, rejects[0].reason), rejects[0].reason


def test_detection_per_file_and_forcing_a_format(tmp_path):
    expected = {
        "legacy_visual_operation": "legacy",
        "legacy_thought_action": "legacy",
        "taco_steps": "taco",
        "taco_chat": "taco_chat",
        "qwen_pixel_reasoner": "qwen_tool_calls",
        "qwen_multi_call": "qwen_tool_calls",
        "qwen_openai_tool_calls": "qwen_tool_calls",
        "qwen_deepeyes_like": "qwen_tool_calls",
    }
    for stem, fmt in expected.items():
        rows, _ = read_rows(FIXTURES / f"{stem}.jsonl")
        assert {r["source_format"] for r in rows} == {fmt}, stem
    # a forced format that does not fit: every record is a reject with a reason, nothing crashes
    rows, rejects = read_rows(FIXTURES / "taco_steps.jsonl", fmt="qwen_tool_calls")
    assert rows == [] and [r.reason.split(" (")[0] for r in rejects] == ["no chat message list found"]
    (tmp_path / "odd.json").write_text(json.dumps([{"hello": 1}]))
    with pytest.raises(InputError, match=r"odd\.json: no known record format fits"):
        read_rows(tmp_path / "odd.json")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("images/a.png", "images/a.png"),
        ("data:image/jpeg;base64,QUJDRA==", "data:image/jpeg;base64,<4 bytes>"),
        ({"url": "https://x/y.jpg"}, "https://x/y.jpg"),
        ({"path": "p.png", "bytes": "QUJD"}, "p.png"),
        ({"bytes": b"\x89PNG\r\n"}, "<inline image, 6 bytes>"),
        (b"\xff\xd8\xff", "<inline image, 3 bytes>"),
        (None, "<inline image>"),
        (3, "3"),
    ],
)
def test_image_references_never_carry_payloads(ref, expected):
    assert media_ref(ref) == expected


def test_chat_as_json_text_under_prompt_and_hf_style_image_dicts(write_jsonl):
    chat = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where is the cat?"}]},
        {"role": "assistant", "content": "<think>Look left.</think><answer>left</answer>"},
    ]
    record = {"prompt": json.dumps(chat), "images": [{"bytes": "QUJD", "path": "cat.png"}], "reward": "acc"}
    rows, rejects = read_rows(write_jsonl([record]))
    assert rejects == []
    got = rows[0]
    assert (got["source_format"], got["question"], got["images"], got["answer"]) == (
        "qwen_tool_calls",
        "Where is the cat?",
        ["cat.png"],
        "left",
    )
    assert got["trajectory"] == steps(("THINK", "Look left.", None, None))
    assert got["extra"] == {"reward": "acc", "prompt_images": ["<inline image>"]}
