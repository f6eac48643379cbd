"""End-to-end split: partition, file contents, byte-identical reruns, atomicity, output directory rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_split_support import scores_frame, write_scores

import pixelis_data
from pixelis_core.config_io import to_dict
from pixelis_data.config import DataConfig
from pixelis_data.split import SplitConfig, SplitError, split_to_dir
from pixelis_data.split import writer as split_writer

OUTPUTS = ("simple", "medium", "hard", "eval")


def read(path: Path) -> pl.DataFrame:
    with pa.memory_map(str(path)) as source:
        return pl.from_arrow(pa.ipc.open_file(source).read_all())  # type: ignore[return-value]


def without_timestamps(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in ("created_at", "finished_at")}


def config(**split) -> DataConfig:
    return DataConfig(split=SplitConfig(**split))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from([0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0]) | st.floats(0.1, 1.0), min_size=1, max_size=80),
    st.floats(0.0, 0.5),
    st.integers(1, 7),
)
def test_categories_partition_the_input(tmp_path_factory, scores, fraction, batch_rows):
    tmp = tmp_path_factory.mktemp("p")
    inp = write_scores(tmp / "in.scores.parquet", scores_frame(scores))
    result = split_to_dir(inp, tmp / "out", config(eval_fraction=fraction, batch_rows=batch_rows))
    frames = {name: read(tmp / "out" / f"{name}.arrow") for name in OUTPUTS}
    ids = [i for f in frames.values() for i in f["sample_id"]]
    assert sorted(ids) == sorted(f"s{i:06d}" for i in range(len(scores)))  # train + eval = input, no overlap
    t = result.plan.thresholds
    by_id = dict(zip(scores_frame(scores)["sample_id"], scores, strict=True))
    for name, frame in frames.items():
        for sid, cat in zip(frame["sample_id"], frame["category"], strict=True):
            s = by_id[sid]
            assert cat == ("simple" if s <= t.t_simple else "medium" if s <= t.t_medium else "hard")
            if name != "eval":
                assert cat == name
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    assert {k: manifest["files"][k]["rows"] for k in OUTPUTS} == {k: frames[k].height for k in OUTPUTS}
    assert manifest["counts"] == {k: frames[k].height for k in OUTPUTS}  # rows per file, as the stream checks
    assert sum(c["total"] for c in manifest["category_counts"].values()) == len(scores)


def test_rows_keep_every_input_column_in_input_order(tmp_path):
    frame = scores_frame(np.linspace(0.1, 1.0, 200), seed=3)
    inp = write_scores(tmp_path / "in.scores.parquet", frame)
    split_to_dir(inp, tmp_path / "out", config(batch_rows=17))
    position = {sid: i for i, sid in enumerate(frame["sample_id"])}
    for name in OUTPUTS:
        out = read(tmp_path / "out" / f"{name}.arrow")
        assert out.columns == [*frame.columns, "category"]
        order = [position[s] for s in out["sample_id"]]
        assert order == sorted(order)
        expected = frame.filter(pl.col("sample_id").is_in(out["sample_id"].implode()))
        assert out.drop("category").equals(expected)  # nested trajectories, nulls, weights all unchanged


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(0.1, 1.0), min_size=1, max_size=50), st.integers(1, 20))
def test_reruns_are_byte_identical(tmp_path_factory, scores, batch_rows):
    tmp = tmp_path_factory.mktemp("r")
    inp = write_scores(tmp / "in.scores.parquet", scores_frame(scores))
    cfg = config(batch_rows=batch_rows)
    split_to_dir(inp, tmp / "a", cfg)
    first = {name: (tmp / "a" / f"{name}.arrow").read_bytes() for name in OUTPUTS}
    manifest = json.loads((tmp / "a" / "manifest.json").read_text())
    split_to_dir(inp, tmp / "a", cfg)  # rewrite of the same directory
    split_to_dir(inp, tmp / "b", cfg)
    for out in ("a", "b"):
        assert {name: (tmp / out / f"{name}.arrow").read_bytes() for name in OUTPUTS} == first
        again = json.loads((tmp / out / "manifest.json").read_text())
        assert without_timestamps(again) == without_timestamps(manifest)


def test_manifest_contents(tmp_path):
    scores = [0.2] * 40 + [0.5] * 30 + [0.9] * 30  # P33 and P66 fall inside runs of ties
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame(scores))
    result = split_to_dir(inp, tmp_path / "out", config())
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m == result.manifest
    assert m["format_version"] == 1 and m["pixelis_version"] == pixelis_data.__version__
    assert m["kind"] == "pixelis-split"
    assert m["config"] == json.loads(json.dumps(to_dict(config())))
    assert m["input"]["kind"] == "scores"
    assert m["input"]["files"][0]["sha256"] == hashlib.sha256(inp.read_bytes()).hexdigest()
    assert m["thresholds"] == {"simple": result.plan.thresholds.t_simple, "medium": result.plan.thresholds.t_medium}
    assert m["percentiles"] == {"simple": 33.0, "medium": 66.0}
    assert m["iqr"]["n_outliers"] == 0 and m["iqr"]["q1"] == float(np.percentile(scores, 25))
    assert m["thresholds"] == {"simple": 0.2, "medium": 0.5}
    assert m["ties"] == {
        "at_simple": 40,
        "at_medium": 30,
        "strict_rule_counts": {"simple": 0, "medium": 40, "hard": 60},
    }
    assert {c: v["total"] for c, v in m["category_counts"].items()} == {"simple": 40, "medium": 30, "hard": 30}
    assert m["created_at"] <= m["finished_at"]
    assert m["rejects"] is None
    for name in OUTPUTS:
        assert m["files"][name]["bytes"] == (tmp_path / "out" / f"{name}.arrow").stat().st_size


def test_interrupted_run_leaves_no_manifest_and_no_partial_files(tmp_path, monkeypatch):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame(np.linspace(0.1, 1, 100)))
    out = tmp_path / "out"
    split_to_dir(inp, out, config())
    before = {name: (out / f"{name}.arrow").read_bytes() for name in OUTPUTS}
    calls = {"n": 0}
    original = split_writer._write_part

    def crash(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(split_writer, "_write_part", crash)
    with pytest.raises(KeyboardInterrupt):
        split_to_dir(inp, out, config(eval_fraction=0.3))
    assert not (out / "manifest.json").exists()  # the old one was deleted before rewriting
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.arrow" for n in OUTPUTS)  # no temp files
    assert {name: (out / f"{name}.arrow").read_bytes() for name in OUTPUTS} == before  # old files untouched
    # an incomplete directory (no manifest) is refused without --overwrite
    monkeypatch.undo()
    with pytest.raises(SplitError, match="holds no pixelis manifest; pass --overwrite"):
        split_to_dir(inp, out, config())
    split_to_dir(inp, out, config(), overwrite=True)
    assert (out / "manifest.json").exists()


def test_non_empty_directory_without_manifest_is_refused(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.2, 0.5, 0.9]))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SplitError, match=r"out: directory is not empty and holds no pixelis manifest"):
        split_to_dir(inp, out, config())
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    split_to_dir(inp, out, config(), overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"  # --overwrite replaces our files only
    (out / "manifest.json").write_text('{"format_version": 1, "pixelis_version": "0.1.0", "kind": "training-run"}')
    with pytest.raises(SplitError, match="no pixelis manifest"):
        split_to_dir(inp, out, config())


def test_output_path_that_is_a_file_is_refused(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.2, 0.5, 0.9]))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SplitError, match="exists and is not a directory"):
        split_to_dir(inp, tmp_path / "file", config(), overwrite=True)


def test_stale_rejects_file_is_removed_on_rewrite(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.2, 0.5, 0.9]))
    split_to_dir(inp, tmp_path / "out", config())
    (tmp_path / "out" / "rejects.jsonl").write_text("{}\n")
    split_to_dir(inp, tmp_path / "out", config())
    assert not (tmp_path / "out" / "rejects.jsonl").exists()


def test_eval_per_category(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame(np.linspace(0.1, 1, 90)))
    result = split_to_dir(inp, tmp_path / "out", config(eval_per_category=4))
    eval_frame = read(tmp_path / "out" / "eval.arrow")
    assert eval_frame.group_by("category").len().sort("category").rows() == [("hard", 4), ("medium", 4), ("simple", 4)]
    assert result.manifest["eval"]["mode"] == "per_category"


def test_raw_input_is_scored_then_split(tmp_path):
    records = [
        {
            "sample_id": f"r{i}",
            "task_type": "object_counting",
            "question": "how many?",
            "image_path": "a.png",
            "trajectory": [{"action": "ZOOM_IN", "parameters": {"x": i}, "thought": "look", "result": "ok"}] * (i % 7),
            "answer": "2",
        }
        for i in range(50)
    ]
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(records))
    result = split_to_dir(raw, tmp_path / "out")
    assert result.input_kind == "raw" and result.n_rejected == 0
    assert not (tmp_path / "out" / "rejects.jsonl").exists()
    frames = [read(tmp_path / "out" / f"{n}.arrow") for n in OUTPUTS]
    assert sorted(i for f in frames for i in f["sample_id"]) == sorted(f"r{i}" for i in range(50))
    assert "difficulty_score" in frames[0].columns and "trajectory_complexity" in frames[0].columns
    assert result.manifest["input"]["files"] == [
        {"path": str(raw), "bytes": raw.stat().st_size, "sha256": hashlib.sha256(raw.read_bytes()).hexdigest()}
    ]
    assert result.manifest["input"]["scoring"] == {"n_input": 50, "n_scored": 50, "n_rejected": 0}
    # same raw input again: same bytes (scoring and splitting are both deterministic)
    before = {n: (tmp_path / "out" / f"{n}.arrow").read_bytes() for n in OUTPUTS}
    split_to_dir(raw, tmp_path / "out")
    assert {n: (tmp_path / "out" / f"{n}.arrow").read_bytes() for n in OUTPUTS} == before


def test_stale_rejects_file_is_removed_when_raw_input_has_none(tmp_path):
    out = tmp_path / "out"
    raw = tmp_path / "raw.jsonl"
    good = {
        "sample_id": "a",
        "question": "q",
        "image_path": "i.png",
        "answer": "1",
        "trajectory": [{"action": "ZOOM_IN", "parameters": {}, "thought": "t", "result": "r"}],
    }
    raw.write_text(json.dumps(good) + "\n" + json.dumps({**good, "sample_id": "b", "trajectory": 5}) + "\n")
    assert split_to_dir(raw, out, fmt="pixelis").n_rejected == 1
    assert (out / "rejects.jsonl").exists()
    raw.write_text(json.dumps(good) + "\n")
    assert split_to_dir(raw, out, fmt="pixelis").n_rejected == 0
    assert not (out / "rejects.jsonl").exists()


def test_leftovers_of_a_killed_run_are_cleaned_on_overwrite(tmp_path):
    inp = write_scores(tmp_path / "in.scores.parquet", scores_frame([0.2, 0.5, 0.9]))
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [
        ".simple.arrow.ab12cd.tmp",
        ".eval.arrow.x.tmp",
        ".manifest.json.q.tmp",
        ".pixelis-split-scores.parquet",
    ]
    for name in [*leftovers, "keep.txt", ".other.tmp"]:
        (out / name).write_text("x")
    split_to_dir(inp, out, config(), overwrite=True)
    names = {p.name for p in out.iterdir()}
    assert not names & set(leftovers)
    assert {"keep.txt", ".other.tmp", "manifest.json"} <= names
