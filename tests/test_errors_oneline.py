"""One-line errors (exit code 2, no traceback) where tracebacks used to be: a custom factor on a missing
column, `explain` on a file that is not scores, `train --out` and `curriculum simulate --jsonl` on paths
that cannot be written (checked before any work, naming the path the user gave)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_data.schema import CANONICAL_COLUMNS

runner = CliRunner()
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="root writes into a chmod 0o500 folder: nothing to refuse")
RECORD = {"sample_id": "a", "question": "q", "trajectory": [{"action": "THINK", "thought": "t"}], "answer": "x"}


def one_line(output: str) -> str:
    return " ".join(output.split())


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.output, result.output
    assert expected in one_line(result.output), result.output


FACTORS = '''
import polars as pl

def uses_a_typo():
    """Reads a column that does not exist."""
    return pl.col("n_step").cast(pl.Float64) / 10

def adds_text():
    return pl.col("question") * 2.5

def fine():
    return pl.col("n_steps").cast(pl.Float64) / 10
'''


@pytest.fixture
def factor_module(tmp_path) -> Path:
    path = tmp_path / "my_factors.py"
    path.write_text(FACTORS)
    return path


def test_a_custom_factor_on_a_missing_column_names_factor_column_and_the_columns(tmp_path, write_jsonl, factor_module):
    data = write_jsonl([RECORD])
    args = ["score", str(data), "--factor-module", str(factor_module), "--factor-weight", "uses_a_typo=0.1"]
    result = runner.invoke(app, args)
    assert_one_line_error(result, "uses_a_typo(): uses column 'n_step' that does not exist when factors are computed")
    listed = one_line(result.output).split("(columns: ")[1]
    for column in (*CANONICAL_COLUMNS, "n_steps", "n_think"):
        assert column in listed, column
    assert "_phrase" not in result.output and "with_columns" not in result.output  # no internals, no plan
    assert len(result.output.strip().splitlines()) <= 3  # one message (wrapped at most by the terminal width)
    assert not (tmp_path / "in.scores.parquet").exists()


def test_every_bad_custom_factor_is_reported_at_once_and_good_ones_score(write_jsonl, factor_module):
    data = write_jsonl([RECORD])
    args = ["score", str(data), "--factor-module", str(factor_module), "-q"]
    both = runner.invoke(app, [*args, "--factor-weight", "uses_a_typo=0.1", "--factor-weight", "adds_text=0.1"])
    assert_one_line_error(both, "uses_a_typo(): uses column 'n_step'")
    assert "adds_text(): fails on the scored columns (InvalidOperationError: arithmetic on" in one_line(both.output)
    good = runner.invoke(app, [*args, "--factor-weight", "fine=0.1"])
    assert good.exit_code == 0, good.output


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("samples.jsonl", b'{"sample_id": "a"}\n'),
        ("table.csv", b"a,b\n1,2\n"),
        ("cut.scores.parquet", b"PAR1" + b"\0" * 40),
    ],
)
def test_explain_on_a_file_that_is_not_scores(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(app, ["explain", str(path), "a"])
    assert_one_line_error(result, f"error: {path}: not a scores file (not a readable Parquet file: parquet:")
    assert "pass the .scores.parquet that `pixelis score` wrote" in one_line(result.output)


def test_train_out_that_cannot_be_a_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["train", str(tmp_path), "--out", str(blocker / "run"), "--model", "tiny-text"])
    assert_one_line_error(result, f"--out {blocker / 'run'}: cannot write the run directory (Not a directory)")


def test_train_out_on_a_read_only_file_system(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(run)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    result = runner.invoke(app, ["train", str(tmp_path), "--out", str(run), "--model", "tiny-text"])
    assert_one_line_error(result, f"--out {run}: cannot write the run directory (Read-only file system)")


@needs_non_root
def test_train_out_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = runner.invoke(app, ["train", str(tmp_path), "--out", str(folder / "run"), "--model", "tiny-text"])
    finally:
        folder.chmod(0o700)
    assert_one_line_error(result, f"--out {folder / 'run'}: cannot write the run directory (Permission denied)")


def test_simulate_jsonl_under_a_file_fails_before_simulating(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["curriculum", "simulate", "--jsonl", str(blocker / "t.jsonl")])
    assert_one_line_error(result, f"--jsonl {blocker / 't.jsonl'}: cannot write: {blocker} is not a directory")
    assert "Timeline" not in result.output and "Decisions" not in result.output


def test_simulate_jsonl_onto_a_directory_fails_before_simulating(tmp_path):
    result = runner.invoke(app, ["curriculum", "simulate", "--jsonl", str(tmp_path)])
    assert_one_line_error(result, f"--jsonl {tmp_path}: cannot write: is a directory")
    assert "Timeline" not in result.output and list(tmp_path.iterdir()) == []


def test_simulate_jsonl_on_a_read_only_file_system_fails_before_simulating(tmp_path, monkeypatch):
    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    from pixelis_core import write_errors

    monkeypatch.setattr(write_errors.tempfile, "mkstemp", read_only)
    target = tmp_path / "sim.jsonl"
    result = runner.invoke(app, ["curriculum", "simulate", "--jsonl", str(target)])
    assert_one_line_error(result, f"--jsonl {target}: cannot write: Read-only file system")
    assert "Timeline" not in result.output and not target.exists()


@needs_non_root
def test_simulate_jsonl_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = runner.invoke(app, ["curriculum", "simulate", "--jsonl", str(folder / "t.jsonl")])
    finally:
        folder.chmod(0o700)
    assert_one_line_error(result, f"--jsonl {folder / 't.jsonl'}: cannot write: Permission denied")
    assert "Timeline" not in result.output
