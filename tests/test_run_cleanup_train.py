"""Temp files and directories: named with the writer's pid, removed on SIGTERM, and those of dead processes
removed by the next write into the same folder; a killed `pixelis train` leaves nothing the next run keeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelis_core.atomic import TEMP_NAME, atomic_dir, atomic_path, sweep_stale, target_of, write_text_atomic

ROOT = Path(__file__).parent.parent


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temps_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if TEMP_NAME.match(p.name))


def test_temp_names_carry_the_pid_and_map_back_to_their_target(tmp_path):
    seen = []
    with atomic_path(tmp_path / "a.json") as tmp:
        seen.append(tmp.name)
        tmp.write_text("{}")
    with atomic_dir(tmp_path / "step-00000004", fsync=False) as tmp:
        seen.append(tmp.name)
        (tmp / "state.json").write_text("{}")
    for name, target in zip(seen, ("a.json", "step-00000004"), strict=True):
        match = TEMP_NAME.match(name)
        assert match and match["pid"] == str(os.getpid()) and match["name"] == target, name
        assert target_of(tmp_path / name) == tmp_path / target
    assert target_of(tmp_path / "plain.txt") == tmp_path / "plain.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "step-00000004"]


def test_sweep_removes_only_temps_of_dead_processes(tmp_path):
    dead, live = dead_pid(), os.getpid()
    (tmp_path / f".scores.parquet.{dead}-k2j4_x9a.tmp").write_bytes(b"half")
    stale_dir = tmp_path / f".step-00000008.{dead}-abcdefgh.tmp"
    (stale_dir / "adapter").mkdir(parents=True)
    (stale_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"half")
    kept = [
        f".config.yaml.{live}-zzzzzzzz.tmp",  # being written by a live process
        ".scores.parquet.k2j4_x9a.tmp",  # no pid: not ours to judge
        f"scores.parquet.{dead}-k2j4_x9a.tmp",  # not a dot file
        "step-00000004",
    ]
    for name in kept:
        (tmp_path / name).write_text("x")
    removed = sweep_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale_dir.name, f".scores.parquet.{dead}-k2j4_x9a.tmp"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    # once per folder and process; force sweeps again
    (tmp_path / f".x.{dead}-aaaaaaaa.tmp").write_text("x")
    assert sweep_stale(tmp_path) == []
    assert [p.name for p in sweep_stale(tmp_path, force=True)] == [f".x.{dead}-aaaaaaaa.tmp"]


def test_the_next_atomic_write_into_a_folder_sweeps_it(tmp_path):
    folder = tmp_path / "fresh"
    folder.mkdir()
    stale = folder / f".metrics.jsonl.{dead_pid()}-abcdefgh.tmp"
    stale.write_text("half")
    write_text_atomic(folder / "config.yaml", "a: 1\n")
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml"]


def _wait_for_temp(proc: subprocess.Popen, run: Path, timeout: float = 120) -> list[str]:
    """Poll the run directory until a temp entry of ``proc`` appears (the tiny model being saved)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [n for n in temps_under(run) if TEMP_NAME.match(Path(n).name)["pid"] == str(proc.pid)]
        if found:
            return found
        assert proc.poll() is None, f"train ended before it was caught writing: {proc.communicate()}"
        time.sleep(0.002)
    raise AssertionError("no temp entry appeared")


@pytest.mark.slow
def test_killed_trains_leave_no_temp_behind(tmp_path):
    """SIGKILL while the base model is being saved leaves its temp dir; the next run into the same --out
    removes it, and a SIGTERM of that run removes its own temp files on the way out."""
    pytest.importorskip("torch")
    from pixelis_train.demo_data import make_demo_split

    split = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "pixelis_cli.app", "train", str(split), "--model", "tiny-text", "--steps", "50"]
    command += ["--out", str(run), "--no-live", "--image-root", str(tmp_path / "images"), "--set", "lora.r=4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def start(*extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*command, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    first = start()
    left = _wait_for_temp(first, run)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert left and set(left) <= set(temps_under(run)), (left, temps_under(run))

    second = start("--resume", "auto")
    own = _wait_for_temp(second, run)
    assert not set(left) & set(temps_under(run)), "the dead run's temp dir was not swept"
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=120)
    assert own and temps_under(run) == [], temps_under(run)
    assert second.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
