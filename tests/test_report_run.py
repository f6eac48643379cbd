"""The run section's data: a run directory's metrics.jsonl (shapes of pixelis_train/loop.py) -> RunView.

``write_run_dir`` builds a run directory whose curriculum events come from the real adaptive policy
(``simulate_trace``) on a trace chosen to advance, roll back, advance again and force an advance; it is
shared with the HTML and browser tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pixelis_data.report.inputs import ReportInputError, detect_kind
from pixelis_data.report.run import run_view
from pixelis_train.curriculum import CurriculumConfig, Evaluation, StageConfig
from pixelis_train.curriculum.simulate import simulate_trace

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
    """A run directory with config.yaml and a metrics.jsonl written in the loop's record shapes."""
    sim = simulate_trace(CFG, evaluations())
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text("curriculum: {eval_interval: 50}\n")
    by_step = {e.step: (ev, e) for ev, e in zip(sim.evaluations, sim.events, strict=True)}
    stage_name = CFG.stages[0].name
    records = [
        {
            "kind": "start",
            "step": 0,
            "base_model": "tiny-text",
            "trainable_params": 8192,
            "total_params": 160896,
            "device": "cpu",
        }
    ]
    for step in range(1, LAST_STEP + 1):
        if step % 10 == 0:
            records.append(
                {
                    "kind": "train",
                    "step": step,
                    "loss": 3.0 * math.exp(-step / 300) + 0.5,
                    "lr": 1e-4,
                    "grad_norm": 1.0,
                    "tokens_per_s": 4000.0 + step,
                    "samples_per_s": 12.0 + step / 100,
                    "stage": stage_name,
                    "skipped_samples": 0,
                }
            )
        if step in by_step:
            ev, event = by_step[step]
            fields = {}
            for c, p in ev.performance.items():
                fields |= {
                    f"{c}/loss": -math.log(p),
                    f"{c}/token_accuracy": p,
                    f"{c}/exp_neg_loss": p,
                    f"{c}/action_accuracy": p / 2,
                    f"{c}/n_samples": 4,
                    f"{c}/n_tokens": 100,
                    f"{c}/n_actions": 8,
                }
            records.append({"kind": "eval", "step": step, "metric": "token_accuracy", **fields})
            records.append({"kind": "curriculum", "step": step, "event": event.to_json(), **event.metrics()})
            stage_name = event.stage_name
    if end:
        records.append({"kind": "checkpoint", "step": LAST_STEP, "path": str(path / "checkpoints/step-720")})
        records.append(
            {
                "kind": "end",
                "step": LAST_STEP,
                "stopped": "completed",
                "time_total": 100.0,
                "time_data": 5.0,
                "time_compute": 80.0,
                "time_eval": 10.0,
                "time_checkpoint": 5.0,
            }
        )
    (path / "metrics.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
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
    # the simulator also cuts a segment where only the interval scale changes: merge those by stage
    merged: list[tuple[int, int, int, str]] = []
    for s in sim.segments:
        if merged and merged[-1][2] == s.stage:
            merged[-1] = (merged[-1][0], s.end, s.stage, s.stage_name)
        else:
            merged.append((s.start, s.end, s.stage, s.stage_name))
    merged[-1] = (merged[-1][0], LAST_STEP, merged[-1][2], merged[-1][3])  # the run trains on past the last eval
    assert [(s.start, s.end, s.stage, s.name) for s in view.segments] == merged
    assert view.cooldowns == [(c.start, min(c.end, LAST_STEP)) for c in sim.cooldowns]
    assert [s.name for s in view.segments] == ["simple", "mixed", "simple", "mixed", "full"]


def test_timeline_final_eval_and_frames(run_dir):
    view = run_view(run_dir)
    changes = [(t["step"], t["from"], t["to"], t["kind"]) for t in view.timeline]
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
    assert view.end is not None and view.end["stopped"] == "completed"


def test_a_torn_line_is_skipped_and_counted(run_dir):
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write('{"kind": "train", "step": 73')
    view = run_view(run_dir)
    assert view.skipped_lines == 1
    assert view.train.height == LAST_STEP // 10


def test_an_unfinished_run_has_no_end_record(tmp_path):
    view = run_view(write_run_dir(tmp_path / "run", end=False))
    assert view.end is None
    assert view.segments[-1].end == LAST_STEP


def test_an_empty_metrics_file_is_a_named_error(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(ReportInputError, match=r"metrics.jsonl: no metrics records"):
        run_view(tmp_path)


@pytest.mark.slow
def test_a_real_tiny_run_reads_back_as_the_terminal_summary_says(tmp_path):
    """A 4-step tiny-text run: the report's timeline and final eval are the run summary's (about 25 s on CPU)."""
    pytest.importorskip("torch")
    from cli.train import resolve_config
    from pixelis_data.report import build_report
    from pixelis_train.demo_data import make_demo_split
    from pixelis_train.loop import train

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
    summary = train(split_dir, cfg, tmp_path / "run")
    view = run_view(tmp_path / "run")
    assert view.timeline == summary.timeline and [t["to"] for t in view.timeline] == ["b"]
    assert {c: r["loss"] for c, r in view.final_eval.items()} == {c: m.loss for c, m in summary.final_eval.items()}
    assert view.train["step"].to_list() == [1, 2, 3, 4]
    assert [(s.name, s.start, s.end) for s in view.segments] == [("a", 0, 2), ("b", 2, 4)]
    result = build_report(tmp_path / "run", tmp_path / "report.html")
    assert result.kind == "run" and len(result.figures) == 4
