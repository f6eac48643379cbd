"""Progress without a terminal: plain step / eval / curriculum lines that agree with metrics.jsonl."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli.app import app
from pixelis_train.curriculum.events import Event
from pixelis_train.reporter import TrainReporter
from pixelis_train.runlog import TrainRecord

runner = CliRunner()


def _record(step: int) -> TrainRecord:
    return TrainRecord(
        step=step, loss=1.25, lr=1e-3, grad_norm=0.5, tokens_per_s=10.0, samples_per_s=2.0, stage="a", skipped_samples=0
    )


def _event(kind: str) -> Event:
    return Event(kind=kind, step=2, stage_before=0, stage_after=1, stage_name="b", reason="met [the] bar")


def test_plain_lines_when_not_a_terminal_even_if_live():
    out = io.StringIO()
    report = TrainReporter(Console(file=out, width=40), total=4, start_step=0, live=True)
    assert not report.live
    with report:
        report.step(2)
        report.train(_record(2))
        report.evaluation(2, "token_accuracy", {"simple": 0.5, "hard": 0.25})
        report.curriculum(_event("hold"), "a")
        report.curriculum(_event("advance"), "a")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("step 2/4  loss 1.2500  lr 1.00e-03  stage a  2.0 samples/s  ETA ")
    assert lines[1] == "eval step 2: token_accuracy  simple 0.5000  hard 0.2500"
    assert lines[2] == "curriculum step 2: advance a -> b (met [the] bar)"  # a hold prints nothing; no markup
    assert len(lines) == 3


def test_live_bar_names_the_evaluation_phase():
    out = io.StringIO()
    report = TrainReporter(Console(file=out, force_terminal=True, width=200), total=4, start_step=0, live=True)
    assert report.live
    with report:
        report.train(_record(2))
        task = report._bar.tasks[0]
        assert task.fields["info"].startswith("loss 1.2500")
        report.evaluating(2)
        assert task.fields["info"] == "evaluating at step 2 ..."
        report.evaluation(2, "token_accuracy", {"simple": 0.5})
        assert task.fields["info"].startswith("loss 1.2500")
    assert "step 2/4  loss" not in out.getvalue()  # the bar, not plain step lines


@pytest.mark.slow
def test_no_live_train_prints_step_eval_and_curriculum_lines(tmp_path):
    torch = pytest.importorskip("torch")
    from pixelis_train.demo_data import make_demo_split

    split_dir = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "curriculum: {policy: fixed, eval_interval: 2, stages: [{name: a, steps: 2, weights: {simple: 1.0}}, "
        "{name: b, steps: null, weights: {simple: 0.5, hard: 0.5}}]}\n"
        "data: {format: {max_length: 400}}\nlora: {r: 4, alpha: 8}\nlogging: {every: 1}\n"
    )
    run = tmp_path / "run"
    threads_before = torch.get_num_threads()
    try:
        result = runner.invoke(
            app,
            [
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
                "--threads",
                "1",
                "--image-root",
                str(tmp_path / "images"),
            ],
        )
        assert torch.get_num_threads() == 1  # --threads reached build_run
    finally:
        torch.set_num_threads(threads_before)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
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
    assert any(line.startswith("curriculum step 2: advance a -> b (") for line in lines), result.output
    assert not any(line.startswith("curriculum step 4:") for line in lines)  # step 4 was a hold
    assert "run summary" in result.output
