"""The distributed plumbing without a process group: eval sharding, config, environment, CLI launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_cli.common import torchrun_command
from pixelis_core.config_io import ConfigError, from_dict
from pixelis_core.processes import pid_alive
from pixelis_train.config import DistributedConfig, TrainConfig
from pixelis_train.distributed import DistContext, env_ranks, resolve_strategy
from pixelis_train.evaluate import shard

runner = CliRunner()
ROOT = Path(__file__).parent.parent


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 40), world=st.integers(1, 6))
def test_eval_shards_cover_every_example_once_with_equal_lengths(n, world):
    examples = [f"ex{i}" for i in range(n)]
    shards = [shard(examples, rank, world) for rank in range(world)]
    # the same number of entries (forward passes) on every rank
    assert {len(s) for s in shards} == {-(-n // world)}
    counted = sorted((ex for s in shards for ex, keep in s if keep), key=lambda e: int(e[2:]))
    assert counted == examples  # each real example is counted exactly once
    assert all(ex in examples for s in shards for ex, _ in s)  # padding repeats real examples


def test_distributed_config_reports_every_problem():
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"distributed": {"strategy": "zero3", "backend": "mpi", "timeout_s": 0}})
    text = str(err.value)
    assert "distributed.strategy: must be one of 'auto', 'ddp', 'fsdp' (got 'zero3')" in text
    assert "distributed.backend: must be one of 'auto', 'nccl', 'gloo' (got 'mpi')" in text
    assert "distributed.timeout_s: must be an integer >= 1 (got 0)" in text
    # built directly (not from YAML) the dataclass validates too
    with pytest.raises(ValueError, match=r"strategy: must be one of 'auto', 'ddp', 'fsdp' \(got 'x'\)"):
        DistributedConfig(strategy="x")  # type: ignore[arg-type]


def test_rank_and_world_come_from_the_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert env_ranks() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert env_ranks() == (3, 4, 1)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match=r"RANK=4 is not in \[0, WORLD_SIZE=4\)"):
        env_ranks()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match=r"WORLD_SIZE: must be an integer \(got 'two'\)"):
        env_ranks()
    assert [resolve_strategy(s, 2) for s in ("auto", "ddp", "fsdp")] == ["ddp", "ddp", "fsdp"]
    assert {resolve_strategy(s, 1) for s in ("auto", "ddp", "fsdp")} == {"none"}


def test_single_process_collectives_are_the_identity():
    ctx = DistContext(rank=0, world_size=1, local_rank=0, strategy="none", device="cpu")
    assert ctx.is_main
    assert ctx.all_sum([1, 2.5]) == [1.0, 2.5] and ctx.all_max([3]) == [3.0]
    assert ctx.any_rank(True) and not ctx.any_rank(False)
    assert ctx.gather_objects({"a": 1}) == [{"a": 1}]
    ctx.barrier()


def test_nproc_becomes_a_torchrun_command_without_nproc():
    argv = ["train", "split", "--nproc", "4", "--steps", "5", "--nproc=4", "--distributed", "fsdp"]
    command = torchrun_command(argv, 4)
    assert command[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4"]
    assert command[6:] == ["-m", "pixelis_cli.app", "train", "split", "--steps", "5", "--distributed", "fsdp"]


def test_nproc_inside_torchrun_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = runner.invoke(app, ["train", str(tmp_path), "--nproc", "2"])
    assert result.exit_code == 2
    assert "--nproc 2: already running under torchrun (WORLD_SIZE=2)" in " ".join(result.output.split())


def test_bad_distributed_flag_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path), "--distributed", "zero3"])
    assert result.exit_code == 2
    assert "distributed.strategy: must be one of 'auto', 'ddp', 'fsdp' (got 'zero3')" in " ".join(result.output.split())


def test_the_cli_module_runs_as_python_dash_m():
    # torchrun launches `-m pixelis_cli.app`: the module must run the app
    out = subprocess.run([sys.executable, "-m", "pixelis_cli.app", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--distributed" in out.stdout and "--nproc" in out.stdout


# -- workers die with their launcher ------------------------------------------------------------------
# The launcher (a stand-in for torchrun's agent) starts one worker and sleeps; the worker guards itself
# the way named on its command line, says "ready PID" and sleeps. The test SIGKILLs the launcher.
LAUNCHER = (
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]]); time.sleep(60)"
)
WORKER = """
import os, sys, time
from pixelis_core import processes
how = sys.argv[1]
if how == "die_with_parent":
    how = processes.die_with_parent()
elif how == "watchdog":
    processes.start_parent_watchdog(os.getppid(), interval_s=0.05)
print("ready", os.getpid(), how, flush=True)
time.sleep(60)
"""


def _start_guarded_worker(how: str) -> tuple[subprocess.Popen, int, str]:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, WORKER, how], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert launcher.stdout is not None
    _, pid, used = launcher.stdout.readline().split()
    return launcher, int(pid), used


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["die_with_parent", "watchdog", "unguarded"])
def test_a_worker_dies_when_its_launcher_is_sigkilled(how):
    launcher, worker, used = _start_guarded_worker(how)
    try:
        if how == "die_with_parent" and sys.platform.startswith("linux"):
            assert used == "prctl"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)
        # the unguarded worker is the control: without the guard it trains on as an orphan
        assert _gone_within(worker, 3.0) == (how != "unguarded")
    finally:
        if pid_alive(worker):
            os.kill(worker, signal.SIGKILL)
        launcher.kill()
        launcher.wait()


def test_pid_alive_treats_a_dead_or_reaped_process_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    assert pid_alive(child.pid) and pid_alive(os.getpid())
    child.kill()
    time.sleep(0.3)  # killed but not yet reaped: a zombie, which is dead
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid) and not pid_alive(0) and not pid_alive(-5)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def _loaded_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
def test_sigkill_of_the_nproc_launcher_kills_both_training_workers(tmp_path):
    pytest.importorskip("torch")
    from pixelis_train.demo_data import make_demo_split

    split = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    run = tmp_path / "run"
    pixelis = [sys.executable, "-m", "pixelis_cli.app", "train", str(split), "--model", "tiny-text"]
    args = ["--steps", "100000", "--out", str(run), "--no-live", "--image-root", str(tmp_path / "images")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(
        [*pixelis, *args, "--nproc", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        # both workers are inside the train command: they have imported torch, which happens after the
        # entry point armed the guard (and they go on to build the model and train for a long while)
        while time.monotonic() < deadline and not (len(workers) == 2 and all(map(_loaded_torch, workers))):
            assert launcher.poll() is None, "the launcher ended before the workers started"
            workers = _children(launcher.pid)
            time.sleep(0.1)
        assert len(workers) == 2, workers
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)
        assert all(_gone_within(pid, 5.0) for pid in workers), [p for p in workers if pid_alive(p)]
    finally:
        for pid in workers:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.kill()
        launcher.wait()
