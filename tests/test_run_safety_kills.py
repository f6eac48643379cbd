"""The log and the checkpoints agree after a SIGKILL at each point of checkpointing and finishing: the resumed
run's log (truncated or completed to its checkpoint) and adapter equal an uninterrupted run's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from run_records import assert_same_adapter, deterministic_log
from test_run_safety_resume import base

from pixelis_core.config_io import load_yaml
from pixelis_train.checkpoint import checkpoint_dirs, resolve_resume
from pixelis_train.config import TrainConfig
from pixelis_train.loop import train
from pixelis_train.report.legs import run_legs
from pixelis_train.runlog import TrainRecord, read_run_log

pytestmark = pytest.mark.slow

__all__ = ["base"]

# The loop in a child process, SIGKILLed (no handler runs) at one point of the 4-step run
# (checkpoints at steps 2 and 4):
#   renamed:   the step-2 checkpoint directory is renamed in, its log line not yet written
#   unrenamed: the step-4 checkpoint is written into its temp directory, not yet renamed
#   logged:    the step-2 checkpoint line is written, then half of the next line
#   finishing: the final adapter is copied, the end line not yet written
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from pixelis_core.config_io import load_yaml
    from pixelis_train import checkpoint, loop, metrics_log, runlog
    from pixelis_train.config import TrainConfig

    split, cfg_path, run, point = sys.argv[1:5]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    real_write, real_manifest = loop.write_checkpoint, checkpoint.write_manifest
    real_log, real_copy = metrics_log.MetricsLogger.log, loop.copy_dir_atomic
    calls = []

    def write_checkpoint(run_dir, step, *args, **kwargs):
        path = real_write(run_dir, step, *args, **kwargs)
        if point == "renamed" and step == 2:
            die()
        return path

    def write_manifest(directory):
        real_manifest(directory)
        calls.append(directory)
        if point == "unrenamed" and len(calls) == 2:
            die()

    def log(self, record):
        real_log(self, record)
        if point == "logged" and isinstance(record, runlog.CheckpointRecord) and record.step == 2:
            self._file.write('{"kind": "train", "step": 3, "lo')
            self._file.flush()
            die()

    def copy_dir_atomic(src, dst):
        real_copy(src, dst)
        if point == "finishing":
            die()

    loop.write_checkpoint, checkpoint.write_manifest = write_checkpoint, write_manifest
    metrics_log.MetricsLogger.log, loop.copy_dir_atomic = log, copy_dir_atomic
    loop.train(Path(split), load_yaml(TrainConfig, cfg_path), Path(run))
    """
)


def _kinds_at(run: Path, step: int) -> list[str]:
    return [r["kind"] for r in read_run_log(run / "metrics.jsonl").as_json() if r["step"] == step]


@pytest.mark.parametrize(
    ("point", "checkpoints", "resumes_at"),
    [
        ("renamed", ["step-00000002"], 2),
        ("unrenamed", ["step-00000002"], 2),
        ("logged", ["step-00000002"], 2),
        ("finishing", ["step-00000002", "step-00000004"], 4),
    ],
)
def test_a_run_killed_at_each_point_resumes_to_the_uninterrupted_log(base, tmp_path, point, checkpoints, resumes_at):
    split_dir, cfg_path, straight = base
    run = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, str(script), str(split_dir), str(cfg_path), str(run), point],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert [p.name for p in checkpoint_dirs(run)] == checkpoints
    log = read_run_log(run / "metrics.jsonl")
    if point == "renamed":  # the state the resume must complete: a checkpoint the log does not know of
        assert "checkpoint" not in _kinds_at(run, 2) and "eval" in _kinds_at(run, 2)
    if point == "logged":
        assert log.bad_lines == 1  # the torn line

    summary = train(split_dir, load_yaml(TrainConfig, cfg_path), run, resume=resolve_resume("auto", run))
    assert (summary.start_step, summary.steps_done) == (resumes_at, 4)
    assert deterministic_log(run) == deterministic_log(straight)
    assert read_run_log(run / "metrics.jsonl").bad_lines == 0
    # the killed process wrote no end record; the resume record still makes it a leg of its own
    legs = run_legs(read_run_log(run / "metrics.jsonl").records)
    assert [(leg.start, leg.end is None) for leg in legs] == [(0, True), (resumes_at, False)]
    assert_same_adapter(straight, run)


def test_reconcile_cuts_back_drops_torn_lines_and_completes_the_checkpoint_record(tmp_path):
    from pixelis_train.runlog import CheckpointRecord, EndRecord, dumps, reconcile_run_log

    def train_line(step: int) -> str:
        return dumps(
            TrainRecord(step=step, loss=1.0, lr=0.1, grad_norm=1.0, tokens_per_s=1, samples_per_s=1, stage="a")
        )

    log = tmp_path / "metrics.jsonl"
    lines = [train_line(1), train_line(2), train_line(3), '{"kind": "train", "st']
    log.write_text("\n".join(lines))
    reconcile_run_log(log, 2, "ckpt-2")  # killed after the step-2 checkpoint was renamed in, before its line
    assert log.read_text().splitlines() == [train_line(1), train_line(2), dumps(CheckpointRecord(2, "ckpt-2"))]
    reconcile_run_log(log, 2, "ckpt-2")  # already complete: unchanged, not doubled
    assert (
        log.read_text().splitlines()[-1] == dumps(CheckpointRecord(2, "ckpt-2"))
        and len(log.read_text().splitlines()) == 3
    )
    with_end = [*log.read_text().splitlines(), dumps(EndRecord(2, "SIGTERM"))]
    log.write_text("\n".join(with_end) + "\n")
    reconcile_run_log(log, 2, "ckpt-2")  # a stopped run's end line stays (the report marks the leg)
    assert log.read_text().splitlines() == with_end
