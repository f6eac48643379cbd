"""`pixelis score` through Typer's CliRunner: outputs, report, exit codes, one-line errors, custom factors."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from pixelis_cli.app import app
from tests.test_score_inputs import rec

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["score", *map(str, args)])


def test_default_output_beside_input_and_report(tmp_path):
    data = tmp_path / "input.json"
    data.write_text(json.dumps([rec(0), rec(1, task_type="text_extraction", trajectory=[{"action": "MAGIC"}])]))
    result = invoke(data)
    assert result.exit_code == 0, result.output
    out = tmp_path / "input.scores.parquet"
    assert pl.read_parquet(out).height == 2
    for text in (
        "2 input = 2 scored + 0 rejected",
        "p10",
        "p90",
        "difficulty_score",
        "mean difficulty by task_type",
        "text_extraction",
        "mean difficulty by sample_type",
        "MAGIC",
    ):
        assert text in result.output, text


def test_rejects_are_counted_in_report_and_strict_exits_1(tmp_path, write_jsonl):
    path = write_jsonl([rec(0), "{oops"])
    out = tmp_path / "s.parquet"
    result = invoke(path, "-o", out)
    assert result.exit_code == 0
    assert "2 input = 1 scored + 1 rejected" in result.output
    assert (tmp_path / "s.rejects.jsonl").exists()
    strict = invoke(path, "-o", tmp_path / "t.parquet", "--strict")
    assert strict.exit_code == 1
    assert not (tmp_path / "t.parquet").exists()


def test_missing_empty_and_bad_config_exit_2_with_one_line(tmp_path, write_jsonl):
    missing = invoke(tmp_path / "nope.jsonl")
    assert missing.exit_code == 2
    assert "nope.jsonl: no such file or directory" in missing.output
    assert "Traceback" not in missing.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "the file is empty" in invoke(empty).output
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("score:\n  weights:\n    reasoning_depth: -1\n  clip_min: 2\n")
    bad = invoke(write_jsonl([rec(0)]), "--config", cfg)
    assert bad.exit_code == 2
    assert "score.weights.reasoning_depth: must be a finite number >= 0 (got -1.0)" in bad.output
    assert "clip_min must be <= clip_max" in bad.output  # every problem at once
    assert not (tmp_path / "in.scores.parquet").exists()


def test_old_task_type_weight_key_names_the_new_one(tmp_path, write_jsonl):
    cfg = tmp_path / "old.yaml"
    cfg.write_text("score:\n  weights:\n    task_type: 0.1\n    reasoning_depth: -1\n")
    result = invoke(write_jsonl([rec(0)]), "--config", cfg)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "score.weights.task_type: renamed to task_type_score" in text
    assert "score.weights.reasoning_depth: must be a finite number >= 0 (got -1.0)" in text  # every problem at once
    ok = tmp_path / "new.yaml"
    ok.write_text("score:\n  weights:\n    task_type_score: 1.0\n")
    out = tmp_path / "s.parquet"
    assert invoke(write_jsonl([rec(0, task_type="text_extraction")]), "-o", out, "--config", ok).exit_code == 0
    assert pl.read_parquet(out)["difficulty_score"].to_list() == [0.3]


def test_output_required_for_directories(tmp_path, write_jsonl):
    write_jsonl([rec(0)])
    result = invoke(tmp_path)
    assert result.exit_code == 2 and "--output is required" in result.output


def test_custom_factor_module_with_weight(tmp_path, write_jsonl):
    module = tmp_path / "my_factors.py"
    module.write_text(
        "import polars as pl\n\n"
        "def question_length():\n    return (pl.col('question').str.len_chars() / 100).clip(0, 1)\n"
    )
    path = write_jsonl([rec(0, question="x" * 50)])
    out = tmp_path / "s.parquet"
    plain = tmp_path / "p.parquet"
    assert invoke(path, "-o", plain).exit_code == 0
    result = invoke(path, "-o", out, "--factor-module", module, "--factor-weight", "question_length=0.5")
    assert result.exit_code == 0, result.output
    scores = pl.read_parquet(out)
    assert scores["question_length"][0] == 0.5
    expected = min(1.0, pl.read_parquet(plain)["difficulty_score"][0] + 0.25)
    assert abs(scores["difficulty_score"][0] - expected) < 1e-12


def test_custom_factor_module_errors(tmp_path, write_jsonl):
    module = tmp_path / "bad_factors.py"
    module.write_text("def not_an_expr():\n    return 3\n")
    path = write_jsonl([rec(0)])
    no_weight = invoke(path, "--factor-module", module)
    assert no_weight.exit_code == 2 and "no weights given" in no_weight.output
    wrong = invoke(path, "--factor-module", module, "--factor-weight", "not_an_expr=1", "--factor-weight", "nope=1")
    assert wrong.exit_code == 2
    assert "not_an_expr(): must return a polars expression" in wrong.output
    assert "nope: no such function" in wrong.output
    clash = tmp_path / "clash_factors.py"
    clash.write_text(
        "import polars as pl\n\ndef task_type_score():\n    return pl.lit(1.0)\n\n"
        "def n_steps():\n    return pl.lit(1.0)\n"
    )
    taken = invoke(
        path, "--factor-module", clash, "--factor-weight", "task_type_score=1", "--factor-weight", "n_steps=1"
    )
    assert taken.exit_code == 2
    text = " ".join(taken.output.split())
    assert "task_type_score: clashes with a built-in column name" in text
    assert "n_steps: clashes with a built-in column name" in text
    malformed = invoke(path, "--factor-weight", "oops")
    assert malformed.exit_code == 2 and "NAME=WEIGHT" in malformed.output


def test_help_explains_options():
    result = runner.invoke(app, ["score", "--help"])
    assert result.exit_code == 0
    for option in ("--output", "--config", "--factor-module", "--strict", "--format"):
        assert option in result.output


def test_quiet_writes_the_same_scores_and_keeps_no_report(tmp_path):
    """--quiet prints one line and keeps no per-sample report columns; the scores file is the same."""
    from pixelis_data.score import score_to_parquet

    data = tmp_path / "input.json"
    data.write_text(json.dumps([rec(i) for i in range(5)]))
    quiet = invoke(data, "-o", tmp_path / "q.parquet", "-q")
    assert quiet.exit_code == 0, quiet.output
    assert "p10" not in quiet.output and "5 input = 5 scored" in quiet.output
    loud = invoke(data, "-o", tmp_path / "l.parquet")
    assert loud.exit_code == 0 and "p10" in loud.output
    assert pl.read_parquet(tmp_path / "q.parquet").equals(pl.read_parquet(tmp_path / "l.parquet"))
    assert score_to_parquet(data, tmp_path / "k.parquet", keep_report=False).report is None
    assert score_to_parquet(data, tmp_path / "k.parquet").report.height == 5
