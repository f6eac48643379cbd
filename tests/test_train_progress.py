"""Progress without a terminal: plain step / eval / curriculum lines that agree with metrics.jsonl."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

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
