"""Resume refuses what it cannot honour: a changed config is listed and refused (nothing written), an allowed
change is applied (lr in the optimizer, steps stretch the schedule) and logged; a fresh run refuses another run."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_train_e2e import small_config
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.config_io import dump_yaml, load_yaml
from pixelis_train.config import TrainConfig
from pixelis_train.demo_data import make_demo_split
from pixelis_train.loop import train
from pixelis_train.run_control import ResumeConfigError, check_resume_config
from pixelis_train.runlog import ResumeRecord, TrainRecord, read_run_log

pytestmark = pytest.mark.slow

runner = CliRunner()
STEPS = 4


def base_config(images: Path) -> TrainConfig:
    """tiny-text, 4 steps, a checkpoint every 2 (both kept), an evaluation every 2, a train line per step."""
    return small_config(
        "tiny-text",
        images,
        **{
            "optim.steps": STEPS,
            "logging.every": 1,
            "checkpoint.save_interval": 2,
            "checkpoint.keep_last": 3,
            "checkpoint.average_last": 0,
            "curriculum.eval_interval": 2,
        },
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(split dir, config file, a finished 4-step run with checkpoints at steps 2 and 4)."""
    root = tmp_path_factory.mktemp("safety")
    split_dir = make_demo_split(root / "split", root / "images", n_per_category=6, n_eval_per_category=2)
    cfg = base_config(root / "images")
    cfg_path = root / "train.yaml"
    cfg_path.write_text(dump_yaml(cfg))
    train(split_dir, cfg, root / "run")
    return split_dir, cfg_path, root / "run"


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` by relative path, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def invoke(split_dir: Path, cfg_path: Path, run: Path, *extra: str):
    args = ["train", str(split_dir), "--config", str(cfg_path), "--out", str(run), "--no-live", *extra]
    return runner.invoke(app, args)


def one_line(result) -> str:
    """The error output as one line (rich may wrap), with no traceback."""
    assert "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def test_a_changed_config_is_refused_with_every_difference_and_nothing_is_written(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    before = snapshot(run)
    result = invoke(split_dir, cfg_path, run, "--resume", "auto", "--lr", "0.05", "--seed", "5", "--set", "lora.r=4")
    assert result.exit_code == 2, result.output
    text = one_line(result)
    for difference in (
        "optim.lr: 0.003 in the checkpoint, 0.05 now",
        "seed: 0 in the checkpoint, 5 now",
        "lora.r: 8 in the checkpoint, 4 now",
    ):
        assert difference in text, text
    assert "pass --allow-config-change seed,lora.r,optim.lr to apply the new ones" in text
    assert snapshot(run) == before  # config.yaml, the log and the checkpoints untouched, no lock left


def test_another_global_batch_is_refused_before_the_model_is_built(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    before = snapshot(run)
    # micro_batch is how the batch is cut, not a refused key; the global batch it changes is refused
    result = invoke(
        split_dir, cfg_path, run, "--resume", "auto", "--micro-batch", "4", "--allow-config-change", "optim"
    )
    assert result.exit_code == 2
    assert "global_batch was 2 in the checkpoint but is 4 now" in one_line(result)
    assert snapshot(run) == before


def test_settings_that_do_not_change_the_computation_may_differ():
    saved = TrainConfig()
    now = replace(
        saved,
        logging=replace(saved.logging, every=1, live=False),
        checkpoint=replace(saved.checkpoint, save_interval=7),
        data=replace(saved.data, image_root="/elsewhere"),
        optim=replace(saved.optim, micro_batch=2, grad_accum=2),
    )
    assert check_resume_config(saved, now, (), "ckpt") == []
    changed = replace(now, optim=replace(now.optim, lr=1e-3, steps=20), lora=replace(saved.lora, alpha=8))
    with pytest.raises(ResumeConfigError, match=r"lora.alpha: 64 in the checkpoint, 8 now; optim.steps: 10000"):
        check_resume_config(saved, changed, ("optim.lr",), "ckpt")
    assert [c.key for c in check_resume_config(saved, changed, ("optim", "lora"), "ckpt")] == [
        "lora.alpha",
        "optim.steps",
        "optim.lr",
    ]


def test_another_model_cannot_be_resumed_even_when_allowed(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    before = snapshot(run)
    for extra in ((), ("--allow-config-change", "model.name")):
        result = invoke(split_dir, cfg_path, run, "--resume", "auto", "--model", "tiny-vl", *extra)
        assert result.exit_code == 2, result.output
        assert "model.name: 'tiny-text' in the checkpoint, 'tiny-vl' now" in one_line(result)
    assert snapshot(run) == before


def _cosine(lr: float, warmup: int, total: int, step: int) -> float:
    """The documented schedule, written out: linear warmup, then cosine to 0 at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup))))


def test_allowed_lr_and_steps_are_applied_and_logged(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    result = invoke(
        split_dir,
        cfg_path,
        run,
        "--resume",
        "auto",
        "--lr",
        "0.05",
        "--steps",
        "6",
        "--allow-config-change",
        "optim.lr,optim.steps",
    )
    assert result.exit_code == 0, result.output
    assert "steps 4 -> 6" in one_line(result)
    log = read_run_log(run / "metrics.jsonl")
    [resumed] = log.of(ResumeRecord)
    assert resumed.step == STEPS and resumed.checkpoint.endswith("step-00000004")
    assert resumed.changes == {"optim.lr": [0.003, 0.05], "optim.steps": [4, 6]}
    lrs = {r.step: r.lr for r in log.of(TrainRecord)}
    # the first leg ran the old schedule; the resumed steps run the new lr over the stretched total
    assert lrs[4] == pytest.approx(_cosine(0.003, 2, 4, 3), abs=1e-12)
    assert lrs[5] == pytest.approx(_cosine(0.05, 2, 6, 4), rel=1e-12)
    assert lrs[6] == pytest.approx(_cosine(0.05, 2, 6, 5), rel=1e-12)
    # what the optimizer itself holds, not only what was logged
    saved = torch.load(run / "checkpoints" / "step-00000006" / "optimizer.pt", weights_only=False)
    for group in saved["optimizer"]["param_groups"]:
        assert group["initial_lr"] == 0.05
        assert group["lr"] == pytest.approx(_cosine(0.05, 2, 6, 6), abs=1e-15)
    written = load_yaml(TrainConfig, run / "config.yaml")
    assert (written.optim.lr, written.optim.steps) == (0.05, 6)


def test_an_adapter_of_another_lora_rank_is_a_one_line_error_naming_the_file(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    before = snapshot(run)
    result = invoke(
        split_dir, cfg_path, run, "--resume", "auto", "--set", "lora.r=4", "--allow-config-change", "lora.r"
    )
    assert result.exit_code == 2, result.output
    text = one_line(result)
    assert "step-00000004/adapter/adapter_model.safetensors: does not fit the model" in text, text
    assert "r=8 in the checkpoint, r=4 now" in text
    assert snapshot(run) == before


def test_an_unknown_allowed_key_is_refused(base, tmp_path):
    split_dir, cfg_path, _ = base
    result = invoke(split_dir, cfg_path, tmp_path / "run", "--allow-config-change", "optim.learning_rate")
    assert result.exit_code == 2
    assert "--allow-config-change optim.learning_rate: not a config field or section" in one_line(result)
    assert not (tmp_path / "run").exists()


def test_a_fresh_run_refuses_a_directory_holding_another_run(base, tmp_path):
    split_dir, cfg_path, done = base
    whole = copy_run(done, tmp_path / "whole")
    result = invoke(split_dir, cfg_path, whole)
    assert result.exit_code == 2
    assert "already holds a run (adapter, base-model, checkpoints, config.yaml, metrics.jsonl)" in one_line(result)
    assert "--resume auto" in one_line(result)
    # another run's base model alone is enough: it would be trained instead of the one asked for
    only_model = tmp_path / "only-model"
    shutil.copytree(done / "base-model", only_model / "base-model")
    before = snapshot(only_model)
    result = invoke(split_dir, cfg_path, only_model, "--model", "tiny-vl")
    assert result.exit_code == 2 and "already holds a run (base-model)" in one_line(result)
    assert snapshot(only_model) == before


def test_resume_auto_restarts_a_run_without_checkpoints_only_with_the_same_config(base, tmp_path):
    split_dir, cfg_path, done = base
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(done / "config.yaml", run / "config.yaml")
    shutil.copytree(done / "base-model", run / "base-model")
    before = snapshot(run)
    result = invoke(split_dir, cfg_path, run, "--resume", "auto", "--lr", "0.01")
    assert result.exit_code == 2
    text = one_line(result)
    assert "holds a run without checkpoints whose config differs" in text and "optim.lr: 0.003" in text
    assert snapshot(run) == before
    result = invoke(split_dir, cfg_path, run, "--resume", "auto")
    assert result.exit_code == 0, result.output  # the same config: the killed-before-its-first-checkpoint run restarts
    assert "steps 0 -> 4" in one_line(result)
