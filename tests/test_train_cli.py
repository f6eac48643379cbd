"""`pixelis train` through the Typer app: help without torch, config precedence, errors, run summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app

runner = CliRunner()


def test_help_and_app_import_do_not_import_torch():
    code = "import sys; from pixelis_cli.app import app; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--config", "--image-root", "--steps", "--out", "--resume", "--log-to"):
        assert option in result.output


def test_missing_split_dir_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "nope: split directory does not exist" in result.output


def test_bad_config_values_are_all_reported(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("optim: {lr: -1, grad_accum: 0}\nlora: {dropout: 1.5}\nmodel: {typo: 1}\n")
    result = runner.invoke(app, ["train", str(tmp_path), "--config", str(cfg)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    for part in (
        "optim.lr: must be > 0 (got -1",
        "optim.grad_accum: must be >= 1 (got 0)",
        "lora.dropout: must be in [0, 1) (got 1.5)",
        "model.typo: unknown field",
    ):
        assert part in text, part


def test_cli_flags_override_the_config_file(tmp_path):
    from pixelis_cli.train import resolve_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("optim: {steps: 50, lr: 0.001}\ncurriculum: {eval_interval: 7}\n")
    cfg = resolve_config(cfg_file, {"optim.steps": 9, "model.name": "tiny-text", "optim.lr": None})
    assert (cfg.optim.steps, cfg.optim.lr, cfg.model.name, cfg.curriculum.eval_interval) == (9, 0.001, "tiny-text", 7)


def test_shipped_train_yaml_equals_the_defaults():
    from pixelis_core.config_io import load_yaml
    from pixelis_train.config import TrainConfig

    assert load_yaml(TrainConfig, Path(__file__).parent.parent / "configs" / "train.yaml") == TrainConfig()


def _assert_plain_progress_lines(output: str, run: Path) -> None:
    """Without a live display: one line per train record, per evaluation and per non-hold decision."""
    lines = output.splitlines()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trains = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in trains] == [1, 2, 3, 4]
    for r in trains:
        expected = f"step {r['step']}/4  loss {r['loss']:.4f}  lr {r['lr']:.2e}  stage {r['stage']}  "
        assert any(line.startswith(expected) and " ETA " in line for line in lines), expected
    evals = [r for r in records if r["kind"] == "eval" and not r.get("final")]
    assert [r["step"] for r in evals] == [2, 4]
    for r in evals:
        line = next(line for line in lines if line.startswith(f"eval step {r['step']}: token_accuracy  "))
        for category in ("simple", "medium", "hard"):
            assert f"  {category} {r[f'{category}/token_accuracy']:.4f}" in line, line
    events = [r for r in records if r["kind"] == "curriculum" and r["event"]["kind"] != "hold"]
    assert [(r["step"], r["event"]["kind"]) for r in events] == [(2, "advance")]
    assert any(line.startswith("curriculum step 2: advance a -> b (") for line in lines), output
    assert not any(line.startswith("curriculum step 4:") for line in lines)  # step 4 was a hold


@pytest.mark.slow
def test_train_command_end_to_end_prints_summary_and_progress(tmp_path):
    pytest.importorskip("torch")
    from pixelis_train.demo_data import make_demo_split

    split_dir = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "curriculum: {policy: fixed, eval_interval: 2, stages: [{name: a, steps: 2, weights: {simple: 1.0}}, "
        "{name: b, steps: null, weights: {simple: 0.5, hard: 0.5}}]}\n"
        "data: {format: {max_length: 400}}\nlora: {r: 4, alpha: 8}\nlogging: {every: 1}\n"
    )
    run = tmp_path / "run"
    args = [
        "train",
        str(split_dir),
        "--model",
        "tiny-text",
        "--steps",
        "4",
        "--out",
        str(run),
        "--config",
        str(cfg),
        "--no-live",
        "--image-root",
        str(tmp_path / "images"),
    ]
    torch = pytest.importorskip("torch")
    threads_before = torch.get_num_threads()
    try:
        result = runner.invoke(app, [*args, "--threads", "1"])
        assert torch.get_num_threads() == 1  # --threads reached build_run
    finally:
        torch.set_num_threads(threads_before)
    assert result.exit_code == 0, result.output
    _assert_plain_progress_lines(result.output, run)
    for part in ("run summary", "stage timeline", "final per-category performance", str(run / "adapter")):
        assert part in result.output.replace("\n", ""), part
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    # a second fresh run into the same directory is refused; --resume auto continues (nothing left to do)
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume auto" in again.output
    resumed = runner.invoke(app, [*args, "--resume", "auto"])
    assert resumed.exit_code == 0, resumed.output
    assert "steps 4 -> 4" in resumed.output


def test_log_to_an_uninstalled_sink_is_a_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    split = tmp_path / "split"
    split.mkdir()
    result = runner.invoke(app, ["train", str(split), "--log-to", "wandb", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "--log-to wandb needs the wandb package: pip install wandb" in result.output
