"""Real data nobody on the project wrote: DeepEyes V* trajectories through `pixelis score` (issue 3)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app

DEEPEYES = Path("/work/shared/data/external/deepeyes_vstar_relative_position.jsonl")
if not DEEPEYES.exists():  # the shared checkout keeps it one level above the repository
    DEEPEYES = Path(__file__).resolve().parents[2] / "shared/data/external/deepeyes_vstar_relative_position.jsonl"
TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)

runner = CliRunner()


def expected_from_source(record: dict) -> dict:
    """A plain per-record reference: what the source holds, read with nothing but json and a regex."""
    assistant = [m["content"] for m in record["pred_output"] if m["role"] == "assistant"]
    if record["pred_output"][-1]["role"] != "assistant" and "<think>" in record["pred_ans"]:
        assistant.append(record["pred_ans"])  # a run cut short keeps its last output in pred_ans
    calls = [json.loads(body) for text in assistant for body in TOOL_CALL.findall(text)]
    return {
        "n_think": sum(text.count("<think>") for text in assistant),
        "zooms": [c["arguments"] for c in calls if c["name"] == "image_zoom_in_tool"],
        "n_calls": len(calls),
    }


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[pl.DataFrame, list[dict], str]:
    if not DEEPEYES.exists():
        pytest.skip(f"shared data not found: {DEEPEYES}")
    out = tmp_path_factory.mktemp("deepeyes") / "scores.parquet"
    result = runner.invoke(app, ["score", str(DEEPEYES), "-o", str(out)])
    assert result.exit_code == 0, result.output
    source = [json.loads(line) for line in DEEPEYES.read_text().splitlines() if line.strip()]
    return pl.read_parquet(out), source, result.output


def test_all_76_records_scored_without_rejects(scored):
    frame, source, output = scored
    assert len(source) == 76 and frame.height == 76
    assert "76 input = 76 scored + 0 rejected" in output
    assert frame["source_format"].unique().to_list() == ["qwen_tool_calls"]
    assert frame["n_unknown_ops"].sum() == 0
    assert frame["sample_id"].n_unique() == 76


def test_think_and_zoom_steps_bboxes_and_answers(scored):
    frame, source, _ = scored
    for row, record in zip(frame.iter_rows(named=True), source, strict=True):
        want = expected_from_source(record)
        actions = [s["action"] for s in row["trajectory"]]
        assert set(actions) <= {"THINK", "ZOOM_IN"}
        # one <think> block per assistant turn, nothing else around it: one THINK step each
        assert actions.count("THINK") == want["n_think"] >= 1
        assert actions.count("ZOOM_IN") == len(want["zooms"]) == want["n_calls"]
        zoom_params = [json.loads(s["parameters"]) for s in row["trajectory"] if s["action"] == "ZOOM_IN"]
        assert zoom_params == want["zooms"]
        assert all(len(p["bbox_2d"]) == 4 for p in zoom_params)
        assert row["n_think"] == want["n_think"]
        assert row["question"] == record["question"]
        assert row["images"] == [record["image"]]
        extra = json.loads(row["extra"])
        if record["status"] == "success":
            assert row["answer"] == record["pred_ans"].strip()
        else:  # no answer was given: pred_ans is the raw unfinished output, kept in extra
            assert row["answer"] is None and extra["pred_ans"] == record["pred_ans"]
        assert row["ground_truth"] == record["answer"]
        assert extra["status"] == record["status"]
        assert extra["system"] == record["pred_output"][0]["content"]
        assert extra["prompt"].startswith("Question: " + record["question"])


def test_observations_keep_image_references_not_payloads(scored):
    frame, source, _ = scored
    n_observed = 0
    for row, record in zip(frame.iter_rows(named=True), source, strict=True):
        for s in row["trajectory"]:
            if s["action"] == "ZOOM_IN" and s["result"] is not None:
                result = json.loads(s["result"])
                assert result["images"] == ["data:image/jpeg;base64,<0 bytes>"]
                assert "image_zoom_in_tool" in result["text"]
                n_observed += 1
        # the one record whose run stopped after its call (status error) has an unanswered zoom
        if record["status"] == "error":
            assert [s["result"] for s in row["trajectory"] if s["action"] == "ZOOM_IN"] == [None]
    assert n_observed == 75


def test_answers_given_inside_think_blocks_are_not_trained_as_reasoning(scored):
    # DeepEyes' final <think> holds "The answer is: <answer>..</answer>"; that answer is the answer column's.
    frame, _, _ = scored
    thoughts = [s["thought"] or "" for traj in frame["trajectory"] for s in traj]
    assert thoughts and not any("<answer>" in t or "</answer>" in t or "</think>" in t for t in thoughts)
    assert frame["answer"].drop_nulls().str.contains("<answer>").sum() == 0
