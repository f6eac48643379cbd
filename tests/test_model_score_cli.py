"""`pixelis model-score` through the Typer app: help, one-line errors with exit code 2, bad samples."""

from __future__ import annotations

import json

import polars as pl
import pytest
from test_model_score import split_rows
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_train.config import TrainConfig
from pixelis_train.demo_data import make_demo_split
from pixelis_train.model_score.shards import shard_dir_for
from pixelis_train.tiny import build_tiny, corpus_from_split

runner = CliRunner()


def _one_line_error(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for part in parts:
        assert part in lines[0], (part, lines[0])


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return make_demo_split(root / "split", root / "images", n_per_category=2, n_eval_per_category=1)


def test_help_explains_the_command_with_an_example():
    result = runner.invoke(app, ["model-score", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for part in ("--model", "--adapter", "--token-budget", "--nproc", "--skip-bad-samples", "Example", "IFD"):
        assert part in text, part


def test_input_errors_are_one_line(split, tmp_path):
    out = ["-o", str(tmp_path / "o.parquet"), "--model", "tiny-text"]
    _one_line_error(runner.invoke(app, ["model-score", str(tmp_path / "nope"), *out]), "nope: does not exist")
    plain = tmp_path / "plain"
    plain.mkdir()
    _one_line_error(runner.invoke(app, ["model-score", str(plain), *out]), "not a split directory")
    (plain / "manifest.json").write_text(json.dumps({"format_version": 1}))
    _one_line_error(runner.invoke(app, ["model-score", str(plain), *out]), "incomplete split directory")
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({k: v for k, v in split_rows(split)[0].items() if k != "category"}) + "\n")
    _one_line_error(runner.invoke(app, ["model-score", str(records), *out]), "tiny model is built from a split")


def test_model_adapter_and_config_errors_are_one_line(split, tmp_path):
    out = ["-o", str(tmp_path / "o.parquet")]
    missing_model = str(tmp_path / "no-model")
    _one_line_error(
        runner.invoke(app, ["model-score", str(split), *out, "--model", missing_model]), "no such model directory"
    )
    empty = tmp_path / "empty-adapter"
    empty.mkdir()
    args = ["model-score", str(split), *out, "--model", "tiny-text"]
    _one_line_error(runner.invoke(app, [*args, "--adapter", str(empty)]), "not a PEFT adapter directory")
    _one_line_error(runner.invoke(app, [*args, "--adapter", str(tmp_path / "gone")]), "gone: not a directory")
    (empty / "adapter_config.json").write_text("{}")
    _one_line_error(runner.invoke(app, [*args, "--adapter", str(empty)]), "no adapter weights")
    _one_line_error(
        runner.invoke(app, [*args, "--set", "data.format.max_length=3"]), "data.format.max_length: must be >= 16"
    )


def test_broken_adapter_fails_after_loading_and_leaves_no_blocking_shards(split, tmp_path):
    tiny = build_tiny("tiny-text", corpus_from_split(split, TrainConfig().data.format), tmp_path / "tiny")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{not json")
    (broken / "adapter_model.safetensors").write_bytes(b"junk")
    out = tmp_path / "o.parquet"
    args = ["model-score", str(split), "-o", str(out), "--model", str(tiny)]
    _one_line_error(runner.invoke(app, [*args, "--adapter", str(broken)]), "broken: cannot be loaded onto this model")
    assert not out.exists()
    # nothing was scored, so the same output with another adapter (here none) starts afresh
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height == len(split_rows(split)) and not shard_dir_for(out).exists()


def test_bad_samples_stop_the_run_or_are_skipped_and_counted(split, tmp_path):
    images = split.parent / "images"
    missing = images / "medium-00001.png"
    missing.rename(tmp_path / "aside.png")
    try:
        out = tmp_path / "vl.parquet"
        args = ["model-score", str(split), "-o", str(out), "--model", "tiny-vl", "--image-root", str(images)]
        _one_line_error(runner.invoke(app, args), "sample 'medium-00001'", "image not found", "--skip-bad-samples")
        result = runner.invoke(app, [*args, "--skip-bad-samples"])
    finally:
        (tmp_path / "aside.png").rename(missing)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 skipped as bad samples" in text and "medium-00001" in text
    ids = pl.read_parquet(out)["sample_id"].to_list()
    assert ids == sorted(r["sample_id"] for r in split_rows(split) if r["sample_id"] != "medium-00001")
