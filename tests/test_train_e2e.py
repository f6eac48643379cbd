"""End-to-end: tiny-vl and tiny-text train on a real split directory with a scripted curriculum."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import peft
import pytest
import torch

from pixelis_core.config_io import from_dict, to_dict
from pixelis_data.schema import CATEGORIES
from pixelis_train.batch import FormatStats, collate, format_rows, model_inputs, token_stats
from pixelis_train.chat import ChatFormatter
from pixelis_train.checkpoint import checkpoint_dirs
from pixelis_train.config import TrainConfig
from pixelis_train.demo_data import make_demo_split
from pixelis_train.evaluate import evaluate
from pixelis_train.loop import train
from pixelis_train.models import load_base
from pixelis_train.runlog import read_run_log
from pixelis_train.stream.split_files import open_arrow

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")]

STEPS = 12


def small_config(model: str, image_root: Path, **changes) -> TrainConfig:
    """A config small enough for a CPU test: fixed curriculum advancing at steps 4 and 8."""
    data = to_dict(TrainConfig())
    data["model"]["name"] = model
    data["optim"].update(steps=STEPS, micro_batch=2, grad_accum=1, lr=3e-3, warmup_steps=2)
    data["lora"].update(r=8, alpha=16)
    data["data"]["image_root"] = str(image_root)
    data["data"]["format"]["max_length"] = 512
    data["eval"].update(max_per_category=4, batch_size=4)
    data["curriculum"].update(
        policy="fixed",
        eval_interval=4,
        stages=[
            {"name": "warm", "steps": 4, "weights": {"simple": 1.0}},
            {"name": "mid", "steps": 4, "weights": {"simple": 0.5, "medium": 0.5}},
            {"name": "all", "steps": None, "weights": {"simple": 0.2, "medium": 0.3, "hard": 0.5}},
        ],
    )
    data["logging"].update(every=2, live=False)
    data["checkpoint"].update(save_interval=4, keep_last=2, average_last=2)
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        data[section][key] = value
    return from_dict(TrainConfig, data)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    split_dir = make_demo_split(root / "split", root / "images", n_per_category=12, n_eval_per_category=4)
    return split_dir, root / "images"


def _fixed_batch(base, split_dir: Path, image_root: Path):
    fmt = ChatFormatter(base.tokenizer, TrainConfig().data.format, base.image_processor, image_root)
    rows = open_arrow(split_dir / "simple.arrow").to_pylist()[:4]
    return collate(format_rows(rows, fmt, False, FormatStats()), base.tokenizer.pad_token_id)


def _loss(model, batch) -> float:
    model.eval()
    with torch.no_grad():
        stats = token_stats(model(**model_inputs(batch, "cpu")).logits, batch["labels"])
    return float(stats.loss_sum) / stats.n_tokens


@pytest.mark.parametrize("model_name", ["tiny-vl", "tiny-text"])
def test_tiny_model_trains_checkpoints_and_reloads(split, tmp_path, model_name):
    split_dir, images = split
    cfg = small_config(model_name, images)
    run = tmp_path / "run"
    summary = train(split_dir, cfg, run)

    assert summary.stopped == "completed" and summary.steps_done == STEPS
    # checkpoints: every 4 steps, only the last two kept, each complete
    ckpts = checkpoint_dirs(run)
    assert [p.name for p in ckpts] == ["step-00000008", "step-00000012"]
    for ckpt in ckpts:
        for name in (
            "adapter/adapter_config.json",
            "adapter/adapter_model.safetensors",
            "optimizer.pt",
            "rng.pt",
            "state.json",
            "config.yaml",
        ):
            assert (ckpt / name).is_file(), name
    assert (run / "config.yaml").is_file() and summary.averaged_adapter_dir == run / "adapter-averaged"

    # the scripted schedule: advances exactly at steps 4 and 8, then the last stage to the end
    assert [(c.step, c.before, c.after) for c in summary.timeline.changes] == [(4, "warm", "mid"), (8, "mid", "all")]
    log = read_run_log(run / "metrics.jsonl").as_json()
    train_lines = [r for r in log if r["kind"] == "train"]
    assert [r["step"] for r in train_lines] == [2, 4, 6, 8, 10, 12]
    assert [r["stage"] for r in train_lines] == ["warm", "warm", "mid", "mid", "all", "all"]
    assert all(math.isfinite(r["loss"]) and r["lr"] > 0 for r in train_lines)
    assert [r["step"] for r in log if r["kind"] == "curriculum"] == [4, 8, 12]
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [4, 8, 12]
    assert set(summary.final_eval) == set(CATEGORIES)

    # the saved adapter reloads (PeftModel.from_pretrained) to the very model that was evaluated
    base = load_base(run / "base-model", cfg.model, torch.device("cpu"))
    batch = _fixed_batch(base, split_dir, images)
    loss_before = _loss(base.model, batch)
    reloaded = peft.PeftModel.from_pretrained(base.model, str(summary.adapter_dir))
    fmt = ChatFormatter(base.tokenizer, cfg.data.format, base.image_processor, images)
    eval_rows = open_arrow(split_dir / "eval.arrow").to_pylist()
    eval_sets = {
        c: format_rows([r for r in eval_rows if r["category"] == c][:4], fmt, False, FormatStats()) for c in CATEGORIES
    }
    again = evaluate(reloaded, eval_sets, base.tokenizer.pad_token_id, torch.device("cpu"), 4)
    for category in CATEGORIES:
        assert again[category].loss == pytest.approx(evals[-1][f"{category}/loss"], rel=1e-6, abs=1e-7)
        assert again[category].token_accuracy == evals[-1][f"{category}/token_accuracy"]
    # and training helped: the loss on a fixed batch went down
    assert _loss(reloaded, batch) < loss_before - 0.05
    # the averaged adapter is a loadable adapter too
    averaged = load_base(run / "base-model", cfg.model, torch.device("cpu"))
    peft.PeftModel.from_pretrained(averaged.model, str(summary.averaged_adapter_dir))


def test_sigterm_checkpoints_and_stops_cleanly(split, tmp_path, monkeypatch):
    split_dir, images = split
    cfg = small_config("tiny-text", images, **{"checkpoint.average_last": 0})
    from pixelis_train import build

    real = build.CurriculumStream.next_step

    def next_step(self):
        if self.step == 5:  # the signal arrives while step 6 is planned ahead, during step 5
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self)

    monkeypatch.setattr(build.CurriculumStream, "next_step", next_step)
    summary = train(split_dir, cfg, tmp_path / "run")
    assert summary.stopped == "SIGTERM" and summary.steps_done == 5
    last = checkpoint_dirs(tmp_path / "run")[-1]
    assert last.name == "step-00000005"
    # the stream state is the one after step 5, not after the plan for step 6 that was made ahead
    state = json.loads((last / "state.json").read_text())
    assert state["step"] == 5 and state["stream"]["step"] == 5
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler was removed again
