"""`pixelis model-score` as a job: 2 processes under torchrun (gloo) equal one, a SIGKILLed run resumes
from its shards with every sample exactly once, shards of another job are refused, a tiny run's adapter
scores alike through `--model tiny-text` and `--model RUN_DIR/base-model`, reruns give the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from test_model_score import COLUMNS, run_job, score_config, split_rows
from test_train_e2e import small_config
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_train.demo_data import make_demo_split
from pixelis_train.loop import train
from pixelis_train.model_score.shards import shard_dir_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
runner = CliRunner()

# `pixelis model-score ...` that SIGKILLs itself during its third shard write, after the shard's temporary
# file is written and before it is renamed: two complete shards and one torn temporary file are left.
KILLED_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from pixelis_train.model_score import shards
    real, calls = shards.pq.write_table, []

    def write_table(table, where, **kw):
        real(table, where, **kw)
        calls.append(where)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)

    shards.pq.write_table = write_table
    from pixelis_cli.app import app
    app(sys.argv[1:], prog_name="pixelis")
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _close(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Same samples, each once, the same numbers within 1e-5."""
    assert a.columns == b.columns == COLUMNS
    assert a["sample_id"].to_list() == b["sample_id"].to_list()
    assert a["sample_id"].is_unique().all()
    assert a["n_tokens"].to_list() == b["n_tokens"].to_list()
    for key in ("model_loss", "answer_loss", "ifd"):
        assert (a[key] - b[key]).abs().max() < 1e-5, key


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A demo split and the single-process scores of tiny-text (built from it, as train does)."""
    root = tmp_path_factory.mktemp("jobs")
    split = make_demo_split(root / "split", root / "images", n_per_category=6, n_eval_per_category=2)
    reference = run_job(split, root / "reference.parquet", score_config("tiny-text"), token_budget=2048)
    assert len(reference) == len(split_rows(split))
    return root, split, reference


def test_two_gloo_processes_equal_one(env, tmp_path):
    _root, split, reference = env
    out = tmp_path / "two.parquet"
    args = ["model-score", str(split), "--model", "tiny-text", "-o", str(out), "--nproc", "2", "--shard-rows", "3"]
    done = subprocess.run(
        [sys.executable, "-m", "pixelis_cli.app", *args], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on 2 processes" in " ".join(done.stdout.split())
    _close(pl.read_parquet(out), reference)
    assert not shard_dir_for(out).exists()


def test_sigkill_then_rerun_scores_every_sample_exactly_once(env, tmp_path):
    _root, split, reference = env
    out = tmp_path / "killed.parquet"
    args = ["model-score", str(split), "--model", "tiny-text", "-o", str(out), "--shard-rows", "4"]
    script = tmp_path / "killed_worker.py"
    script.write_text(KILLED_WORKER)
    killed = subprocess.run([sys.executable, str(script), *args], env=_env(), capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-3000:]
    shards = shard_dir_for(out)
    assert len(list(shards.glob("part-*.parquet"))) == 2 and list(shards.glob(".part-*.tmp"))
    assert not out.exists()

    other = runner.invoke(app, [*args[:3], "tiny-vl", *args[4:]])  # another model
    assert other.exit_code == 2
    assert "shards of a different job" in other.output and "model:" in other.output
    assert len(other.output.strip().splitlines()) == 1

    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert "8 from earlier shards" in " ".join(resumed.output.split())
    _close(pl.read_parquet(out), reference)
    assert not shards.exists()


def test_a_tiny_runs_adapter_scores_alike_both_ways_and_reruns_are_byte_identical(env, tmp_path):
    root, split, _reference = env
    run = tmp_path / "run"
    train(split, small_config("tiny-text", root / "images", **{"optim.steps": 3, "checkpoint.average_last": 0}), run)
    common = ["--config", str(run / "config.yaml"), "--adapter", str(run / "adapter"), "--token-budget", "3000"]
    outs = {}
    for name, extra in (("rebuilt", []), ("again", []), ("saved", ["--model", str(run / "base-model")])):
        outs[name] = tmp_path / f"{name}.parquet"
        result = runner.invoke(app, ["model-score", str(split), "-o", str(outs[name]), *common, *extra])
        assert result.exit_code == 0, result.output
    assert outs["rebuilt"].read_bytes() == outs["again"].read_bytes()
    rebuilt, saved = pl.read_parquet(outs["rebuilt"]), pl.read_parquet(outs["saved"])
    assert rebuilt.equals(saved)  # the rebuilt tiny model is the run's base model, weight for weight
    base = tmp_path / "base.parquet"
    result = runner.invoke(app, ["model-score", str(split), "-o", str(base), "--config", str(run / "config.yaml")])
    assert result.exit_code == 0, result.output
    trained = (pl.read_parquet(base)["model_loss"] - rebuilt["model_loss"]).abs()
    assert trained.min() > 0  # the adapter changed every sample's loss
