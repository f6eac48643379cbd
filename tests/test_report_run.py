"""The run section's data: a run directory's metrics.jsonl (records of pixelis_train/runlog.py) -> RunView.

``write_run_dir`` builds a run directory whose curriculum events come from the real adaptive policy
(``simulate_trace``) on a trace chosen to advance, roll back, advance again and force an advance; it is
shared with the HTML and browser tests.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
from pathlib import Path

import pytest

from pixelis_data.report.inputs import ReportInputError
from pixelis_train import runlog
from pixelis_train.curriculum import CurriculumConfig, Evaluation, StageConfig
from pixelis_train.curriculum.simulate import simulate_trace
from pixelis_train.report import detect_kind, run_view

CFG = CurriculumConfig(
    stages=(
        StageConfig(name="simple", steps=100, weights={"simple": 1.0}),
        StageConfig(name="mixed", steps=100, weights={"simple": 0.5, "medium": 0.5}),
        StageConfig(name="full", steps=None, weights={"simple": 0.2, "medium": 0.3, "hard": 0.5}),
    ),
    eval_interval=50,
    min_performance=0.5,
    cooldown_steps=100,
    window=1,
    max_stage_steps=250,
)
# (simple, medium, hard) per evaluation at steps 50, 100, ...: advance at 100, rollback at 150 (cooldown to
# 250, dwell doubled), advance at 350, mixed stays weak so the advance at 600 is forced.
TRACE = [
    (0.6, 0.3, 0.1),
    (0.7, 0.68, 0.2),
    (0.7, 0.4, 0.2),
    (0.8, 0.5, 0.2),
    (0.8, 0.5, 0.2),
    (0.8, 0.6, 0.2),
    (0.8, 0.8, 0.3),
    (0.8, 0.75, 0.3),
    (0.8, 0.1, 0.3),
    (0.8, 0.1, 0.3),
    (0.8, 0.1, 0.3),
    (0.8, 0.1, 0.3),
    (0.85, 0.6, 0.4),
    (0.9, 0.7, 0.5),
]
LAST_STEP = 720


def evaluations() -> list[Evaluation]:
    return [
        Evaluation(step=50 * (i + 1), performance=dict(zip(("simple", "medium", "hard"), p, strict=True)))
        for i, p in enumerate(TRACE)
    ]


def write_run_dir(path: Path, *, end: bool = True) -> Path:
    """A run directory with config.yaml and a metrics.jsonl written through the loop's record classes."""
    sim = simulate_trace(CFG, evaluations())
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text("curriculum: {eval_interval: 50}\n")
    by_step = {e.step: (ev, e) for ev, e in zip(sim.evaluations, sim.events, strict=True)}
    stage_name = CFG.stages[0].name
    records: list[runlog.Record] = [
        runlog.StartRecord(
            step=0,
            base_model="tiny-text",
            trainable_params=8192,
            total_params=160896,
            device="cpu",
            stage=0,
            stage_name=stage_name,
        )
    ]
    for step in range(1, LAST_STEP + 1):
        if step % 10 == 0:
            records.append(
                runlog.TrainRecord(
                    step=step,
                    loss=3.0 * math.exp(-step / 300) + 0.5,
                    lr=1e-4,
                    grad_norm=1.0,
                    tokens_per_s=4000.0 + step,
                    samples_per_s=12.0 + step / 100,
                    stage=stage_name,
                )
            )
        if step in by_step:
            ev, event = by_step[step]
            categories = {
                c: {
                    "loss": -math.log(p),
                    "token_accuracy": p,
                    "exp_neg_loss": p,
                    "action_accuracy": p / 2,
                    "n_samples": 4,
                    "n_tokens": 100,
                    "n_actions": 8,
                }
                for c, p in ev.performance.items()
            }
            records.append(runlog.EvalRecord(step=step, metric="token_accuracy", categories=categories))
            records.append(runlog.CurriculumRecord(step=step, event=event))
            stage_name = event.stage_name
    if end:
        records.append(runlog.CheckpointRecord(step=LAST_STEP, path=str(path / "checkpoints/step-720")))
        times = {"total": 100.0, "data": 5.0, "compute": 80.0, "eval": 10.0, "checkpoint": 5.0}
        records.append(runlog.EndRecord(step=LAST_STEP, stopped="completed", times=times))
    (path / "metrics.jsonl").write_text("".join(runlog.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def run_dir(tmp_path):
    return write_run_dir(tmp_path / "run")


def test_the_trace_exercises_every_marked_event_kind():
    kinds = [e.kind for e in simulate_trace(CFG, evaluations()).events]
    assert {"advance", "rollback", "forced_advance"} <= set(kinds)


def test_stage_segments_and_cooldowns_match_the_simulator(run_dir):
    view = run_view(run_dir)
    assert detect_kind(run_dir) == "run"
    sim = simulate_trace(CFG, evaluations())
    # one timeline function for both: the same segments (the run trains on past its last evaluation)
    last = sim.segments[-1]
    assert list(view.timeline.segments) == [*sim.segments[:-1], dataclasses.replace(last, end=LAST_STEP)]
    assert list(view.timeline.cooldowns) == sim.cooldowns
    assert [(s.stage_name, s.interval_scale) for s in view.timeline.segments] == [
        ("simple", 1.0),
        ("mixed", 1.0),
        ("simple", 2.0),
        ("mixed", 2.0),
        ("full", 2.0),
    ]


def test_timeline_final_eval_and_frames(run_dir):
    view = run_view(run_dir)
    changes = [(c.step, c.before, c.after, c.kind) for c in view.timeline.changes]
    assert changes == [
        (100, "simple", "mixed", "advance"),
        (150, "mixed", "simple", "rollback"),
        (350, "simple", "mixed", "advance"),
        (600, "mixed", "full", "forced_advance"),
    ]
    assert view.train.height == LAST_STEP // 10
    assert view.evals.height == 3 * len(TRACE)
    assert view.metric == "token_accuracy"
    final = view.final_eval
    assert set(final) == {"simple", "medium", "hard"}
    assert final["hard"]["token_accuracy"] == pytest.approx(TRACE[-1][2])
    assert view.end is not None and view.end.stopped == "completed"


def test_a_torn_line_is_skipped_and_counted(run_dir):
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write('{"kind": "train", "step": 73')
    view = run_view(run_dir)
    assert view.skipped_lines == 1
    assert view.train.height == LAST_STEP // 10


def test_an_unfinished_run_has_no_end_record(tmp_path):
    view = run_view(write_run_dir(tmp_path / "run", end=False))
    assert view.end is None
    assert view.timeline.segments[-1].end == LAST_STEP


def test_an_empty_metrics_file_is_a_named_error(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(ReportInputError, match=r"metrics.jsonl: no metrics records"):
        run_view(tmp_path)


@pytest.mark.slow
def test_a_real_tiny_run_reads_back_as_the_terminal_summary_says(tmp_path, monkeypatch):
    """A 4-step tiny-text run stopped by a SIGTERM after step 1 and resumed: the report's timeline and final
    eval are the run summary's, and its two legs are the two processes (about 30 s on CPU)."""
    pytest.importorskip("torch")
    from pixelis_cli.train import resolve_config
    from pixelis_train.checkpoint import resolve_resume
    from pixelis_train.demo_data import make_demo_split
    from pixelis_train.loop import train
    from pixelis_train.report import build_report, run_section
    from pixelis_train.stream import CurriculumStream

    split_dir = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        "curriculum: {policy: fixed, eval_interval: 2, stages: [{name: a, steps: 2, weights: {simple: 1.0}}, "
        "{name: b, steps: null, weights: {simple: 0.5, hard: 0.5}}]}\n"
        "data: {format: {max_length: 400}}\nlora: {r: 4, alpha: 8}\nlogging: {every: 1}\n"
    )
    cfg = resolve_config(
        cfg_file,
        {
            "model.name": "tiny-text",
            "optim.steps": 4,
            "logging.live": False,
            "data.image_root": str(tmp_path / "images"),
        },
    )
    real = CurriculumStream.next_step

    def next_step(self):
        if self.step == 1:  # the loop's signal handler sees it: the step finishes, checkpoints, and the run ends
            monkeypatch.setattr(CurriculumStream, "next_step", real)
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self)

    monkeypatch.setattr(CurriculumStream, "next_step", next_step)
    first = train(split_dir, cfg, tmp_path / "run")
    stopped_at = first.steps_done
    assert 0 < stopped_at < 4
    summary = train(split_dir, cfg, tmp_path / "run", resume=resolve_resume("auto", tmp_path / "run"))
    view = run_view(tmp_path / "run")
    assert [(leg.start, leg.last) for leg in view.legs] == [(0, stopped_at), (stopped_at, 4)]
    assert [leg.end.stopped for leg in view.legs if leg.end] == ["SIGTERM", "completed"]
    ends = [r for r in runlog.read_run_log(tmp_path / "run" / "metrics.jsonl").records if r.kind == "end"]
    whole = sum(r.times["total"] for r in ends)
    assert f"in 2 legs, resumed at step {stopped_at}; whole run time {whole:.1f}s" in run_section(view).paragraphs[0]
    assert view.timeline == summary.timeline and [c.after for c in view.timeline.changes] == ["b"]
    assert {c: r["loss"] for c, r in view.final_eval.items()} == {c: m.loss for c, m in summary.final_eval.items()}
    assert view.train["step"].to_list() == [1, 2, 3, 4]
    assert [(s.stage_name, s.start, s.end) for s in view.timeline.segments] == [("a", 0, 2), ("b", 2, 4)]
    # the final evaluation generated answers: the report has them, as the summary does, and their figure
    # (none where max_length 400 cut every answer off: hard's long trajectories)
    answers = {c: m.answer_accuracy for c, m in summary.final_eval.items()}
    assert all((a is None) == (summary.final_eval[c].n_answered == 0) for c, a in answers.items())
    assert answers["simple"] is not None and {c: r["answer_accuracy"] for c, r in view.final_eval.items()} == answers
    result = build_report(tmp_path / "run", tmp_path / "report.html")
    assert result.kind == "run" and [p.stem for p in result.figures][4:] == ["run-answers"]
