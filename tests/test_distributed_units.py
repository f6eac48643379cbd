"""The distributed plumbing without a process group: eval sharding, config, environment, CLI launcher."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_cli.common import torchrun_command
from pixelis_core.config_io import ConfigError, from_dict
from pixelis_train.config import DistributedConfig, TrainConfig
from pixelis_train.distributed import DistContext, env_ranks, resolve_strategy
from pixelis_train.evaluate import shard

runner = CliRunner()


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
