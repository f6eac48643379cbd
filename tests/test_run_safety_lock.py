"""One writer per output directory: a live holder is named (exit 2), a dead holder's lock is taken over with a
warning; two trains into one --out, and a split into a directory being written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from test_split_support import scores_frame, write_scores
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.lock import LOCK_NAME, LockBusyError, acquire, dir_lock

runner = CliRunner()

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pixelis_core.lock import acquire
    acquire(sys.argv[1])
    print("held", flush=True)
    time.sleep(120)
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}


def _holder(directory: Path) -> subprocess.Popen:
    """A process that holds the lock of ``directory`` until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _one_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def test_a_live_holder_is_named_and_a_dead_holders_lock_is_taken_over(tmp_path):
    directory = tmp_path / "out"
    proc = _holder(directory)
    try:
        with pytest.raises(
            LockBusyError, match=rf"{directory} is in use by another pixelis process \(pid {proc.pid}\)"
        ):
            acquire(directory)
    finally:
        _kill(proc)  # SIGKILL: no clean-up ran, its pid is still in the lock file
    assert (directory / LOCK_NAME).read_text().strip() == str(proc.pid)
    warnings: list[str] = []
    with dir_lock(directory, warn=warnings.append) as lock:
        assert lock.stale_pid == proc.pid
        assert (directory / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert warnings == [f"{directory}: took over the lock left by pid {proc.pid}, which is no longer running "
                        "(it was killed while writing here)"]  # fmt: skip
    assert not (directory / LOCK_NAME).exists()  # released: removed, so the next taker sees a clean lock
    with dir_lock(directory, warn=warnings.append) as lock:
        assert lock.stale_pid is None
    assert len(warnings) == 1


def test_a_released_lock_can_be_taken_at_once_and_an_empty_created_dir_is_removed(tmp_path):
    directory = tmp_path / "new"
    with dir_lock(directory, remove_empty_dir=True):
        assert directory.is_dir()
    assert not directory.exists()
    kept = tmp_path / "kept"
    with dir_lock(kept, remove_empty_dir=True):
        (kept / "result.txt").write_text("x")
    assert sorted(p.name for p in kept.iterdir()) == ["result.txt"]


@pytest.mark.slow
def test_two_trains_into_the_same_out_the_second_exits_2_naming_the_first(tmp_path):
    from pixelis_train.demo_data import make_demo_split

    split_dir = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    run = tmp_path / "run"
    args = ["train", str(split_dir), "--model", "tiny-text", "--out", str(run), "--steps", "500", "--no-live"]
    first = subprocess.Popen(
        [sys.executable, "-m", "pixelis_cli.app", *args], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        lock = run / LOCK_NAME
        # until it holds the lock and has started training (its config.yaml is written once the model is built)
        while not (lock.is_file() and lock.read_text().strip() == str(first.pid) and (run / "config.yaml").is_file()):
            assert first.poll() is None and time.monotonic() < deadline, "the first train never started"
            time.sleep(0.05)
        second = runner.invoke(app, args)
        assert second.exit_code == 2
        assert f"{run} is in use by another pixelis process (pid {first.pid})" in _one_line(second)
        assert first.poll() is None  # the first one goes on, undisturbed
    finally:
        _kill(first)
    # the first one died holding the lock: the next train takes it over, says so, then finds the run it left
    third = runner.invoke(app, args)
    text = _one_line(third)
    assert f"warning: {run}: took over the lock left by pid {first.pid}, which is no longer running" in text
    assert third.exit_code == 2 and "already holds a run" in text


def test_split_into_a_directory_being_written_exits_2_naming_the_writer(tmp_path):
    scores = write_scores(tmp_path / "data.scores.parquet", scores_frame(np.linspace(0.1, 1.0, 60), seed=2))
    out = tmp_path / "out.split"
    proc = _holder(out)
    try:
        result = runner.invoke(app, ["split", str(scores), "-o", str(out)])
        assert result.exit_code == 2
        assert f"{out} is in use by another pixelis process (pid {proc.pid})" in _one_line(result)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written beside the holder's lock
    finally:
        _kill(proc)
    result = runner.invoke(app, ["split", str(scores), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"took over the lock left by pid {proc.pid}" in _one_line(result)
    assert (out / "manifest.json").is_file() and not (out / LOCK_NAME).exists()
