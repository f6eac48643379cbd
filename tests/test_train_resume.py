"""Exact resume: N steps straight == N/2 steps, SIGKILL, resume to N (adapter and logged losses, on CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from run_records import assert_same_adapter, deterministic_log
from test_train_e2e import small_config

from pixelis_core.config_io import dump_yaml
from pixelis_train.checkpoint import checkpoint_dirs, resolve_resume
from pixelis_train.demo_data import make_demo_split
from pixelis_train.loop import train
from pixelis_train.runlog import read_run_log

pytestmark = pytest.mark.slow

N = 8

# Runs the loop in a child process and SIGKILLs it (no handler can run) while it plans step KILL_AT + 1,
# after the checkpoint at N/2 and after log lines for later steps were written.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from pixelis_core.config_io import load_yaml
    from pixelis_train import build, loop
    from pixelis_train.config import TrainConfig

    split, cfg_path, run, kill_at = sys.argv[1:5]
    real = build.CurriculumStream.next_step

    def next_step(self):
        if self.step == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self)

    build.CurriculumStream.next_step = next_step
    loop.train(Path(split), load_yaml(TrainConfig, cfg_path), Path(run))
    """
)


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_run_log(run / "metrics.jsonl").as_json() if r["kind"] == "train"]


def test_killed_run_resumes_exactly(tmp_path):
    split_dir = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=6, n_eval_per_category=2)
    cfg = small_config(
        "tiny-vl",
        tmp_path / "images",
        **{
            "optim.steps": N,
            "logging.every": 1,
            "checkpoint.save_interval": N // 2,
            "checkpoint.average_last": 0,
            "curriculum.eval_interval": N // 2,
        },
    )
    straight = tmp_path / "straight"
    train(split_dir, cfg, straight)

    resumed = tmp_path / "resumed"
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(dump_yaml(cfg))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, str(script), str(split_dir), str(cfg_path), str(resumed), str(N // 2 + 2)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert [p.name for p in checkpoint_dirs(resumed)] == [f"step-{N // 2:08d}"]
    # the killed run logged steps past its checkpoint; resuming must redo them, not keep them twice
    assert max(step for step, _ in _losses(resumed)) == N // 2 + 1

    summary = train(split_dir, cfg, resumed, resume=resolve_resume("auto", resumed))
    assert summary.start_step == N // 2 and summary.steps_done == N

    assert _losses(resumed) == _losses(straight)
    assert deterministic_log(resumed) == deterministic_log(straight)
    assert_same_adapter(straight, resumed)


def test_resume_argument_errors(tmp_path):
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None  # nothing to resume: a fresh start
    with pytest.raises(ValueError, match=r"--resume .*nowhere: not a checkpoint directory"):
        resolve_resume(str(tmp_path / "nowhere"), tmp_path)
