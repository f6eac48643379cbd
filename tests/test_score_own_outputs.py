"""`pixelis score` never reads its own outputs, and its report never re-reads the file it wrote (issue 16, 7 and 8)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from rich.console import Console
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_cli.score_report import render_score_report
from pixelis_data.config import DataConfig
from pixelis_data.score import own_outputs, score_to_parquet
from tests.test_score_inputs import rec

runner = CliRunner()


def test_a_second_run_into_the_input_directory_reads_only_the_inputs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text("".join(json.dumps(rec(i)) + "\n" for i in range(3)) + "{bad\n")
    out = data / "scores.parquet"
    first = runner.invoke(app, ["score", str(data), "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert (data / "scores.rejects.jsonl").exists()  # a .jsonl: it would be read as input next time
    # a temp file of an interrupted run into the same -o, which a glob would pick up
    (data / f".scores.parquet.{os.getpid()}-abc.tmp").write_text("partial")
    second = runner.invoke(app, ["score", str(data), "-o", str(out)])
    assert second.exit_code == 0, second.output
    assert "4 input = 3 scored + 1 rejected" in second.output
    assert f"not reading {out}: it is this run's own output" in second.output
    assert f"not reading {data / 'scores.rejects.jsonl'}" in second.output
    assert "duplicate" not in (data / "scores.rejects.jsonl").read_text()
    assert pl.read_parquet(out)["sample_id"].to_list() == ["s0", "s1", "s2"]


def test_own_outputs_are_the_output_its_rejects_and_their_temp_files_only(tmp_path):
    out = tmp_path / "s.parquet"
    names = ["s.parquet", "s.rejects.jsonl", ".s.parquet.12-x.tmp", ".s.rejects.jsonl.3-y.tmp", "t.jsonl", "t.parquet"]
    files = [tmp_path / n for n in names]
    kept, excluded = own_outputs(files, out)
    assert [p.name for p in kept] == ["t.jsonl", "t.parquet"]
    assert [p.name for p in excluded] == names[:4]


def test_an_input_that_is_the_output_is_a_one_line_error(tmp_path):
    data = tmp_path / "a.jsonl"
    data.write_text(json.dumps(rec(0)) + "\n")
    result = runner.invoke(app, ["score", str(data), "-o", str(data)])
    assert result.exit_code == 2
    assert f"{data}: this run's own output" in result.output


def test_the_report_uses_the_rows_written_not_the_file(tmp_path):
    data = tmp_path / "a.jsonl"
    data.write_text("".join(json.dumps(rec(i, task_type="text_extraction")) + "\n" for i in range(4)))
    out = tmp_path / "scores.parquet"
    result = score_to_parquet(data, out, DataConfig())
    out.write_bytes(b"PAR1 not a parquet file any more")  # another run replacing it right now
    console = Console(file=io.StringIO(), width=120)
    render_score_report(result, DataConfig().score, console)
    text = console.file.getvalue()
    assert "mean difficulty by task_type" in text and "text_extraction" in text and "p90" in text


SCRIPT = """
import subprocess, sys
procs = [subprocess.Popen([sys.executable, "-m", "pixelis_cli.app", "score", sys.argv[1], "-o", sys.argv[2]],
         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
for p in procs:
    out, _ = p.communicate()
    print("RC", p.returncode)
    print(out)
"""


def test_two_concurrent_runs_to_the_same_output_both_succeed(tmp_path):
    data = tmp_path / "a.jsonl"
    data.write_text("".join(json.dumps(rec(i)) + "\n" for i in range(2000)))
    out = tmp_path / "scores.parquet"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(2):  # started together: one run's report overlaps the other's rename
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(data), str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert run.stdout.count("RC 0") == 2, run.stdout + run.stderr
        assert "panic" not in run.stdout and "Traceback" not in run.stdout
        assert run.stdout.count("2,000 input = 2,000 scored + 0 rejected") == 2, run.stdout
    assert pl.read_parquet(out).height == 2000
