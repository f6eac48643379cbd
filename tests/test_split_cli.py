"""`pixelis split` through the Typer app: options, report, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from test_split_support import scores_frame, write_scores
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_cli.split import default_output_dir
from pixelis_data.schema import SCORE_COLUMN

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["split", *args])


def scores_file(tmp_path, n: int = 120):
    return write_scores(tmp_path / "data.scores.parquet", scores_frame(np.linspace(0.1, 1.0, n), seed=2))


def test_split_writes_files_and_reports(tmp_path):
    inp = scores_file(tmp_path)
    result = invoke(str(inp), "--by-category")
    assert result.exit_code == 0, result.output
    out = tmp_path / "data.split"  # default: beside the input
    assert sorted(p.name for p in out.iterdir()) == [
        "eval.arrow",
        "hard.arrow",
        "manifest.json",
        "medium.arrow",
        "simple.arrow",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert "thresholds: simple <=" in result.output and "IQR filter" in result.output
    assert f"Split of {manifest['n_samples']} samples" in result.output
    for name in ("simple", "medium", "hard", "eval"):
        assert f"{name}.arrow ({manifest['files'][name]['rows']})" in result.output


def test_by_category_is_the_default_strategy(tmp_path):
    inp = scores_file(tmp_path)
    plain = invoke(str(inp), "-o", str(tmp_path / "plain"))
    flagged = invoke(str(inp), "--by-category", "-o", str(tmp_path / "flagged"))
    assert plain.exit_code == flagged.exit_code == 0, plain.output
    for name in ("simple.arrow", "medium.arrow", "hard.arrow", "eval.arrow"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "flagged" / name).read_bytes(), name


def test_eval_options(tmp_path):
    inp = scores_file(tmp_path)
    result = invoke(str(inp), "--by-category", "-o", str(tmp_path / "o"), "--eval-per-category", "3")
    assert result.exit_code == 0, result.output
    counts = pl.read_ipc(tmp_path / "o" / "eval.arrow").group_by("category").len()
    assert sorted(counts["len"].to_list()) == [3, 3, 3]
    result = invoke(str(inp), "--by-category", "-o", str(tmp_path / "o"), "--eval-fraction", "0.5")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["eval"]["fraction"] == 0.5
    both = invoke(str(inp), "--by-category", "--eval-fraction", "0.1", "--eval-per-category", "3")
    assert both.exit_code == 2 and "exclude each other" in both.output
    bad = invoke(str(inp), "--by-category", "--eval-fraction", "1.5")
    assert bad.exit_code == 2 and "--eval-fraction: must be in [0, 1) (got 1.5)" in bad.output


def test_config_file_split_section(tmp_path):
    inp = scores_file(tmp_path)
    cfg = tmp_path / "data.yaml"
    cfg.write_text("split:\n  simple_percentile: 20\n  medium_percentile: 50\n  eval_fraction: 0.0\n")
    result = invoke(str(inp), "--by-category", "-o", str(tmp_path / "o"), "--config", str(cfg))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["percentiles"] == {"simple": 20.0, "medium": 50.0}
    assert manifest["config"]["split"]["eval_fraction"] == 0.0 and manifest["n_eval"] == 0
    assert "eval.arrow is empty" in result.output
    cfg.write_text("split:\n  simple_percentile: 90\n  medium_percentile: 50\n")
    result = invoke(str(inp), "--by-category", "--config", str(cfg))
    assert result.exit_code == 2
    assert "invalid config" in result.output and "simple_percentile must be <= medium_percentile" in result.output


def test_refuses_foreign_directory_unless_overwrite(tmp_path):
    inp = scores_file(tmp_path)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "x.txt").write_text("x")
    result = invoke(str(inp), "--by-category", "-o", str(out))
    assert result.exit_code == 2 and "pass --overwrite" in result.output
    assert invoke(str(inp), "--by-category", "-o", str(out), "--overwrite").exit_code == 0
    assert invoke(str(inp), "--by-category", "-o", str(out)).exit_code == 0  # now a pixelis split dir


def test_bad_scores_file_is_one_line_error(tmp_path):
    inp = write_scores(tmp_path / "x.scores.parquet", scores_frame([0.2, 0.3]).drop(SCORE_COLUMN))
    result = invoke(str(inp), "--by-category")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "without a difficulty_score column" in lines[0]


def test_raw_input_is_scored_on_the_way(tmp_path):
    records = [
        {
            "sample_id": f"r{i}",
            "task_type": ("object_counting", "spatial_reasoning", "text_extraction", "temporal_tracking")[i % 4],
            "question": "how many?",
            "image_path": "img.png",
            "trajectory": [
                {"action": "ZOOM_IN", "parameters": {"box": [0, 0, 1, 1]}, "thought": "look", "result": "ok"}
            ]
            * (i % 6)
            + [{"action": "THINK", "thought": "so", "parameters": {}, "result": ""}] * (i % 3),
            "answer": "3",
        }
        for i in range(40)
    ]
    raw = tmp_path / "raw.jsonl"
    raw.write_text("\n".join(json.dumps(r) for r in records) + '\n{"no": "trajectory"}\n')
    result = invoke(str(raw), "--by-category", "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "scoring it on the way" in result.output and "1 record rejected" in result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["input"]["kind"] == "raw" and manifest["n_samples"] == 40
    assert manifest["rejects"] == {"path": "rejects.jsonl", "rows": 1}
    assert len((tmp_path / "o" / "rejects.jsonl").read_text().splitlines()) == 1
    assert not any(p.name.startswith(".") for p in (tmp_path / "o").iterdir())  # temp scores removed
    ids = pl.concat([pl.read_ipc(tmp_path / "o" / f"{n}.arrow") for n in ("simple", "medium", "hard", "eval")])
    assert sorted(ids["sample_id"]) == sorted(f"r{i}" for i in range(40))


def test_help_explains_options():
    result = runner.invoke(app, ["split", "--help"])
    assert result.exit_code == 0
    for option in ("--by-category", "--eval-fraction", "--eval-per-category", "--config", "--overwrite", "--output"):
        assert option in result.output


def test_default_output_dir():
    assert default_output_dir(Path("data/train.scores.parquet")) == Path("data/train.split")
    assert default_output_dir(Path("data/raw.jsonl")) == Path("data/raw.split")
    assert default_output_dir(Path("data/raw")) == Path("data/raw.split")
    assert default_output_dir(Path(".")) == Path.cwd().with_name(Path.cwd().name + ".split")
