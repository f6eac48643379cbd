"""`pixelis experiment` end to end on tiny-text: real `pixelis train` children, comparison.json and the report;
a rerun skips finished runs; an experiment killed mid-run resumes; a failed run is reported, the others finish."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_train import runlog
from pixelis_train.demo_data import make_demo_split
from pixelis_train.experiment.arms import run_state
from pixelis_train.stream.split_files import open_arrow
from pixelis_train.stream.synthetic import write_split_dir

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")]

SIZES = {"simple": 8, "medium": 6, "hard": 4}
CONFIG = """\
model: {{tiny_vocab_size: 512}}
lora: {{r: 4, alpha: 8}}
optim: {{steps: 4, micro_batch: 2, grad_accum: 1, lr: 0.01, warmup_steps: 1}}
data: {{image_root: {images}, format: {{max_length: 512}}}}
eval: {{max_per_category: 2, batch_size: 6}}
curriculum:
  eval_interval: 2
  stages:
    - {{name: warm, steps: 2, weights: {{simple: 1.0}}}}
    - {{name: all, steps: null, weights: {{simple: 0.3, medium: 0.3, hard: 0.4}}}}
logging: {{every: 2}}
checkpoint: {{save_interval: 2, keep_last: 1, average_last: 1}}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("experiment")
    demo = make_demo_split(root / "demo", root / "images", n_per_category=8, n_eval_per_category=2)
    # unequal category sizes, so that 'none' (proportional to them) differs from equal shares
    tables = {name: open_arrow(demo / f"{name}.arrow").slice(0, SIZES.get(name)) for name in (*SIZES, "eval")}
    split = write_split_dir(root / "split", tables)
    config = root / "train.yaml"
    config.write_text(CONFIG.format(images=root / "images"))
    return split, config


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _state(run_dir: Path) -> dict:
    (checkpoint,) = sorted((run_dir / "checkpoints").iterdir())
    return json.loads((checkpoint / "state.json").read_text())


def test_two_arms_two_seeds_end_to_end(setup, tmp_path: Path) -> None:
    split, config = setup
    out = tmp_path / "exp"
    args = ["experiment", str(split), "--model", "tiny-text", "--arms", "none,shuffled", "--seeds", "2"]
    args += ["--config", str(config), "--steps", "4", "--parallel", "2", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["plan"]["arms"] == ["none", "shuffled"] and comparison["plan"]["seeds"] == [0, 1]
    assert comparison["scopes"] == ["overall", "simple", "medium", "hard"]
    for arm in ("none", "shuffled"):
        summary = comparison["arms"][arm]
        assert summary["seeds_counted"] == [0, 1] and summary["seeds_not_finished"] == []
        assert [p["step"] for p in summary["curve"]] == [2, 4]
        final = summary["final"]["overall"]["token_accuracy"]
        assert final["n"] == 2 and final["low"] <= final["mean"] <= final["high"]
        assert summary["final"]["hard"]["loss"]["n"] == 2
    diff = comparison["differences"]["shuffled"]
    assert diff["against"] == "none" and diff["seeds"] == [0, 1]
    assert {r["state"] for r in comparison["runs"]} == {"finished"} and len(comparison["runs"]) == 4
    assert "shuffled" in comparison["verdict"] and "2 seeds per arm" in comparison["verdict"]
    assert "Verdict" in result.output and "4 completed" in " ".join(result.output.split())
    # the arms really differ where they should: 'none' mixes by the category sizes, 'shuffled' permutes labels
    none_stream = _state(out / "runs" / "none-seed0")["stream"]
    assert none_stream["weights"] == {"simple": 8 / 18, "medium": 6 / 18, "hard": 4 / 18}
    assert none_stream["labels"] == {"shuffled": False, "seed": None}
    assert _state(out / "runs" / "shuffled-seed1")["stream"]["labels"] == {"shuffled": True, "seed": 1}

    report = CliRunner().invoke(app, ["report", str(out), "-o", str(tmp_path / "report.html")])
    assert report.exit_code == 0, report.output
    assert "Learning curves per arm" in (tmp_path / "report.html").read_text()

    # rerun: every run is finished, none is redone
    logs = {p: _digest(p) for p in (out / "runs").glob("*/metrics.jsonl")}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 completed, 4 already finished" in " ".join(again.output.split())
    assert {p: _digest(p) for p in logs} == logs


def _wait(condition, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the experiment exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_killed_experiment_resumes_and_a_failed_run_is_reported(setup, tmp_path: Path) -> None:
    split, config = setup
    out = tmp_path / "exp"
    runs = out / "runs"
    args = ["experiment", str(split), "--model", "tiny-text", "--arms", "none", "--seeds", "3", "--steps", "8"]
    args += ["--config", str(config), "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixelis_cli.app", *args, "--parallel", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed below with its child, like a lost job
    )
    try:
        _wait(lambda: run_state(runs / "none-seed0") == "finished", 240, "none-seed0 finished", proc)
        _wait(lambda: any((runs / "none-seed1" / "checkpoints").glob("step-*")), 240, "a checkpoint of seed1", proc)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert run_state(runs / "none-seed1") == "partial" and not (runs / "none-seed2").exists()
    finished = _digest(runs / "none-seed0" / "metrics.jsonl")
    resumed_from = _state(runs / "none-seed1")["step"]
    before = (runs / "none-seed1" / "metrics.jsonl").read_text().splitlines()
    kept = [line for line in before if json.loads(line)["step"] <= resumed_from]
    # seed 2 will fail: a corrupt checkpoint for --resume auto to trip over
    broken = runs / "none-seed2" / "checkpoints" / "step-00000002"
    broken.mkdir(parents=True)
    (broken / "state.json").write_text("{not json")

    result = CliRunner().invoke(app, [*args, "--parallel", "2"])
    assert result.exit_code == 1, result.output
    assert _digest(runs / "none-seed0" / "metrics.jsonl") == finished  # finished: not redone
    assert run_state(runs / "none-seed1") == "finished"
    log = runlog.read_run_log(runs / "none-seed1" / "metrics.jsonl")
    after = (runs / "none-seed1" / "metrics.jsonl").read_text().splitlines()
    assert after[: len(kept)] == kept and len(log.of(runlog.StartRecord)) == 1  # resumed, not restarted
    assert f"resuming from {runs / 'none-seed1' / 'checkpoints'}" in (runs / "none-seed1" / "train.out").read_text()
    error = (runs / "none-seed2" / "error.txt").read_text()
    # the child's own one-line error (here: the corrupt state.json, named) ends the stderr tail
    assert error.startswith("run none-seed2 failed: exit code 2 after ")
    assert "step-00000002/state.json: not a readable checkpoint state (Expecting property name" in error
    flat = " ".join(result.output.split())
    assert "failed: none-seed2" in flat and "1 completed, 1 already finished, 1 failed" in flat
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["arms"]["none"]["seeds_counted"] == [0, 1]
    assert [(r["seed"], r["state"], r["failed"]) for r in comparison["runs"]] == [
        (0, "finished", False),
        (1, "finished", False),
        (2, "partial", True),
    ]
    assert "left out (not finished): none-seed2" in comparison["verdict"]
