"""The comparison of an experiment's runs (numbers against a numpy oracle, the verdict, missing metrics,
unfinished runs), comparison.json, its report, and the plan's pieces (arms, argv, run states, child env)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_train import runlog
from pixelis_train.experiment import runner
from pixelis_train.experiment.arms import ExperimentPlan, check_sets, parse_arms, run_state
from pixelis_train.experiment.comparison import ComparisonError, compare, read_comparison, write_comparison
from pixelis_train.experiment.results import overall_metrics, read_run
from pixelis_train.experiment.runner import child_env, run_experiment
from pixelis_train.report import build_report, detect_kind

SEEDS = 3
STEPS = (2, 4, 6)
TOKENS = {"simple": 100, "medium": 300, "hard": 600}  # trained tokens per category: the overall weights
SAMPLES = {"simple": 4, "medium": 4, "hard": 2}
BASE = {"simple": 0.6, "medium": 0.5, "hard": 0.3}
# per arm: the gain over 'none' in token accuracy of every category at the last step, per seed
GAIN = {"none": (0.0, 0.0, 0.0), "adaptive": (0.10, 0.11, 0.09), "anti": (0.03, -0.04, 0.0)}
ANSWER_GAIN = (0.02, -0.03, 0.07)  # adaptive's answer accuracy over none's, per seed: mean 0.02, wide
T2, T1 = 4.302652729911275, 12.706204736174698  # t(0.975, 2), t(0.975, 1) to full precision


def _accuracy(arm: str, seed: int, category: str, step: int) -> float:
    return BASE[category] * step / STEPS[-1] + 0.01 * seed + GAIN[arm][seed] * step / STEPS[-1]


def _write_run(run_dir: Path, arm: str, seed: int, *, finish: bool = True, answers: bool = True) -> None:
    run_dir.mkdir(parents=True)
    records: list = [runlog.StartRecord(step=0, base_model="m", trainable_params=1, total_params=2, device="cpu")]
    for step in STEPS if finish else STEPS[:1]:
        categories = {
            c: {
                "token_accuracy": _accuracy(arm, seed, c, step),
                "loss": 3.0 - _accuracy(arm, seed, c, step),
                "answer_accuracy": 0.5 + 0.1 * seed + (ANSWER_GAIN[seed] if arm != "none" else 0.0)
                if answers
                else None,
                "n_tokens": TOKENS[c],
                "n_samples": SAMPLES[c],
            }
            for c in TOKENS
        }
        records.append(runlog.EvalRecord(step=step, metric="token_accuracy", categories=categories))
    if finish:
        records.append(runlog.EndRecord(step=STEPS[-1], stopped="completed"))
        (run_dir / "adapter").mkdir()
    (run_dir / runlog.METRICS_FILE).write_text("".join(runlog.dumps(r) + "\n" for r in records))


@pytest.fixture
def experiment(tmp_path: Path):
    plan = ExperimentPlan(tmp_path / "split", "tiny-text", ("none", "adaptive", "anti"), SEEDS, tmp_path / "exp")
    for spec in plan.runs():
        if spec.name == "anti-seed2":  # failed part-way: a partial log and an error.txt
            _write_run(spec.run_dir, spec.arm, spec.seed, finish=False)
            (spec.run_dir / "error.txt").write_text("run anti-seed2 failed: exit code 1\n")
        else:
            _write_run(spec.run_dir, spec.arm, spec.seed, answers=spec.arm != "anti")
    return plan


def _overall(arm: str, seed: int, step: int) -> float:
    acc = np.array([_accuracy(arm, seed, c, step) for c in TOKENS])
    return float(np.average(acc, weights=list(TOKENS.values())))


def _t_interval(values: list[float], t: float) -> tuple[float, float, float]:
    x = np.asarray(values)
    half = t * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean(), x.mean() - half, x.mean() + half


def _approx(d: dict, expected: tuple[float, float, float]) -> None:
    assert (d["mean"], d["low"], d["high"]) == pytest.approx(expected, abs=1e-9)


def test_comparison_numbers_against_numpy(experiment: ExperimentPlan) -> None:
    c = compare(experiment, [read_run(s) for s in experiment.runs()])
    assert c["reference"] == "none" and c["scopes"] == ["overall", "simple", "medium", "hard"]
    assert c["arms"]["anti"]["seeds_counted"] == [0, 1] and c["arms"]["anti"]["seeds_not_finished"] == [2]
    for arm, t in (("none", T2), ("adaptive", T2), ("anti", T1)):
        seeds = c["arms"][arm]["seeds_counted"]
        final = c["arms"][arm]["final"]
        _approx(final["overall"]["token_accuracy"], _t_interval([_overall(arm, s, 6) for s in seeds], t))
        _approx(final["hard"]["token_accuracy"], _t_interval([_accuracy(arm, s, "hard", 6) for s in seeds], t))
        losses = [
            float(np.average([3 - _accuracy(arm, s, k, 6) for k in TOKENS], weights=list(TOKENS.values())))
            for s in seeds
        ]
        _approx(final["overall"]["loss"], _t_interval(losses, t))
        # the learning curve: mean and interval of the overall token accuracy at each eval step
        curve = c["arms"][arm]["curve"]
        assert [p["step"] for p in curve] == list(STEPS)
        _approx(curve[0]["token_accuracy"], _t_interval([_overall(arm, s, 2) for s in seeds], t))
    assert c["arms"]["anti"]["final"]["overall"]["answer_accuracy"]["mean"] is None  # not available, not 0
    answers = [
        float(np.average([0.5 + 0.1 * s + ANSWER_GAIN[s]] * 3, weights=list(SAMPLES.values()))) for s in range(3)
    ]
    _approx(c["arms"]["adaptive"]["final"]["overall"]["answer_accuracy"], _t_interval(answers, T2))
    # paired differences against none, same seed
    diff = c["differences"]["adaptive"]["scopes"]["overall"]["token_accuracy"]
    _approx(diff, _t_interval([_overall("adaptive", s, 6) - _overall("none", s, 6) for s in range(SEEDS)], T2))
    anti = c["differences"]["anti"]["scopes"]["overall"]["token_accuracy"]
    assert anti["seeds"] == [0, 1] and anti["n"] == 2
    _approx(anti, _t_interval([_overall("anti", s, 6) - _overall("none", s, 6) for s in (0, 1)], T1))
    assert c["differences"]["anti"]["scopes"]["overall"]["answer_accuracy"]["n"] == 0


def test_steps_to_target_and_the_verdict(experiment: ExperimentPlan) -> None:
    c = compare(experiment, [read_run(s) for s in experiment.runs()])
    best = max(("none", "adaptive", "anti"), key=lambda a: c["arms"][a]["final"]["overall"]["token_accuracy"]["mean"])
    assert best == "adaptive" and c["target"]["best_arm"] == "adaptive"
    threshold = 0.9 * np.mean([_overall("adaptive", s, 6) for s in range(SEEDS)])
    assert c["target"]["token_accuracy"] == pytest.approx(threshold)
    for arm in ("none", "adaptive"):
        expected = {str(s): next((t for t in STEPS if _overall(arm, s, t) >= threshold), None) for s in range(SEEDS)}
        assert c["arms"][arm]["steps_to_target"]["per_seed"] == expected
    assert c["arms"]["none"]["steps_to_target"]["per_seed"]["0"] is None  # none seed 0 never gets there
    v = c["verdict"]
    gain = np.mean([_overall("adaptive", s, 6) - _overall("none", s, 6) for s in range(SEEDS)])
    assert f"adaptive is better than none by {gain:.3f} token accuracy (95% interval [" in v
    assert "adaptive: no difference detected in answer accuracy against none (mean difference +0.020" in v
    assert "anti: no difference detected in token accuracy against none" in v and "2 pairs" in v
    assert "anti answer accuracy" not in v and v.count("answer accuracy") == 1  # n/a for anti: not a verdict
    assert "3 seeds per arm" in v and "left out (not finished): anti-seed2" in v


def test_comparison_json_round_trip_and_errors(experiment: ExperimentPlan, tmp_path: Path) -> None:
    c = compare(experiment, [read_run(s) for s in experiment.runs()])
    path = write_comparison(experiment.out, c)
    assert read_comparison(experiment.out) == json.loads(path.read_text()) == json.loads(json.dumps(c))
    with pytest.raises(ComparisonError, match=r"comparison.json: missing \(run `pixelis experiment`"):
        read_comparison(tmp_path / "nowhere")
    path.write_text(json.dumps({**c, "format_version": 7}))
    with pytest.raises(ComparisonError, match=r"format_version 7 is not 1"):
        read_comparison(experiment.out)


def test_experiment_report(experiment: ExperimentPlan, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    c = compare(experiment, [read_run(s) for s in experiment.runs()])
    write_comparison(experiment.out, c)
    assert detect_kind(experiment.out) == "experiment"
    result = build_report(experiment.out, tmp_path / "r.html")
    assert result.kind == "experiment"
    assert sorted(p.name for p in result.figures) == ["experiment-curves.png", "experiment-final.png"]
    html = (tmp_path / "r.html").read_text()
    assert "adaptive is better than none by" in html and "paired differences against none" in html
    assert "anti-seed2: partial (failed: see its error.txt)" in html
    assert "n/a" in html  # anti's answer accuracy
    cli = CliRunner().invoke(app, ["report", str(experiment.out), "-o", str(tmp_path / "c.html")])
    assert cli.exit_code == 0, cli.output
    assert "experiment report, 2 figures" in " ".join(cli.output.split())


def test_plan_pieces(tmp_path: Path) -> None:
    assert parse_arms(" none, anti ,shuffled") == ("none", "anti", "shuffled")
    with pytest.raises(ValueError, match=r"--arms: unknown arm\(s\) 'greedy' \(known: adaptive, fixed, none"):
        parse_arms("none,greedy")
    with pytest.raises(ValueError, match=r"--arms: arm\(s\) given twice: none"):
        parse_arms("none,fixed,none")
    with pytest.raises(ValueError, match=r"--set curriculum.policy=fixed: the experiment sets curriculum.policy"):
        check_sets(["optim.lr=0.1", "curriculum.policy=fixed"])
    plan = ExperimentPlan(Path("s"), "tiny-text", ("none", "fixed"), 2, tmp_path, Path("c.yaml"), ("optim.lr=0.1",), 5)
    assert [s.name for s in plan.runs()] == ["none-seed0", "fixed-seed0", "none-seed1", "fixed-seed1"]
    argv = plan.train_argv(plan.runs()[1])
    assert argv[:4] == [sys.executable, "-m", "pixelis_cli.app", "train"]
    assert argv[4:] == [
        "s", "--model", "tiny-text", "--config", "c.yaml", "--set", "optim.lr=0.1", "--set", "curriculum.policy=fixed",
        "--seed", "0", "--steps", "5", "--out", str(tmp_path / "runs" / "fixed-seed0"), "--resume", "auto", "--no-live",
    ]  # fmt: skip
    assert child_env(2, {"PATH": "/bin"})["OMP_NUM_THREADS"] == str(
        max(1, len(__import__("os").sched_getaffinity(0)) // 2)
    )
    assert child_env(2, {"OMP_NUM_THREADS": "7"})["OMP_NUM_THREADS"] == "7"  # the user's setting wins
    assert child_env(10_000, {})["OMP_NUM_THREADS"] == "1"


def test_run_states(tmp_path: Path) -> None:
    assert run_state(tmp_path / "nothing") == "new"
    _write_run(tmp_path / "done", "none", 0)
    assert run_state(tmp_path / "done") == "finished"
    _write_run(tmp_path / "half", "none", 0, finish=False)
    assert run_state(tmp_path / "half") == "partial"
    _write_run(tmp_path / "stopped", "none", 0)
    log = tmp_path / "stopped" / runlog.METRICS_FILE
    log.write_text(log.read_text() + runlog.dumps(runlog.EndRecord(step=6, stopped="SIGTERM")) + "\n")
    assert run_state(tmp_path / "stopped") == "partial"  # interrupted: --resume auto continues it
    _write_run(tmp_path / "no-adapter", "none", 0)
    (tmp_path / "no-adapter" / "adapter").rmdir()
    assert run_state(tmp_path / "no-adapter") == "partial"


def test_a_run_directory_in_use_is_a_failed_run_not_a_second_writer(tmp_path: Path, monkeypatch) -> None:
    plan = ExperimentPlan(tmp_path / "split", "tiny-text", ("none",), 1, tmp_path / "exp")
    (spec,) = plan.runs()
    spec.run_dir.mkdir(parents=True)
    fd = os.open(spec.run_dir / runner.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # e.g. a child of a killed experiment, still training
    monkeypatch.setattr(runner, "LOCK_WAIT_SECONDS", 0.3)
    try:
        outcomes, status = run_experiment(plan)
    finally:
        os.close(fd)
    assert [(o.status, o.returncode) for o in outcomes] == [("failed", None)]
    assert "is in use by another process" in outcomes[0].error and status.count("failed") == 1
    assert (spec.run_dir / "error.txt").read_text().startswith("run none-seed0 failed: ")
    assert not (spec.run_dir / "train.out").exists()  # nothing was started


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    split = tmp_path / "split"
    split.mkdir()
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("optim: {lr: -1}\n")
    base = ["experiment", str(split), "--model", "tiny-text", "--out", str(tmp_path / "exp")]
    cases = [
        (["--arms", "none,greedy"], r"--arms: unknown arm\(s\) 'greedy'"),
        (["--set", "seed=3"], r"--set seed=3: the experiment sets seed of every run itself \(use --seeds\)"),
        (["--config", str(bad_config)], r"invalid config for arm 'none': .*optim.lr"),
        (
            ["--set", "curriculum.window=0"],
            r"invalid config for arm 'none': .*curriculum.window: must be an integer >= 1",
        ),
    ]
    cli = CliRunner()
    for extra, message in cases:
        result = cli.invoke(app, [*base, *extra])
        assert result.exit_code == 2, result.output
        flat = " ".join(result.output.split())
        assert flat.startswith("error: ") and len(result.output.strip().splitlines()) <= 3, result.output
        assert re.search(message, flat), flat
    missing = cli.invoke(app, ["experiment", str(tmp_path / "nope"), "--model", "tiny-text", "--out", "x"])
    assert missing.exit_code == 2 and "split directory does not exist" in missing.output
    assert not (tmp_path / "exp").exists()  # nothing started


FAKE_TRAIN = """#!{python}
# stands in for `python -m pixelis_cli.app train ...`: waits to be stopped, like a run between two steps
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(0)))
print("args", " ".join(sys.argv[1:]), flush=True)
time.sleep(60)
"""


def test_sigterm_is_passed_on_and_nothing_new_starts(tmp_path: Path) -> None:
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_TRAIN.format(python=sys.executable))
    fake.chmod(0o755)
    plan = ExperimentPlan(tmp_path / "split", "tiny-text", ("none",), 2, tmp_path / "exp", python=str(fake))

    def on_change(status) -> None:
        if status.running and status.stopping is None:
            time.sleep(0.5)  # let the child install its handler
            os.kill(os.getpid(), signal.SIGTERM)  # the experiment's handler catches it

    outcomes, status = run_experiment(plan, on_change)
    assert status.stopping == "SIGTERM"
    assert [(o.spec.name, o.status) for o in outcomes] == [("none-seed0", "interrupted")]
    out = (tmp_path / "exp" / "runs" / "none-seed0" / "train.out").read_text()
    assert "got SIGTERM" in out and "-m pixelis_cli.app train" in out and "--resume auto" in out
    assert not (tmp_path / "exp" / "runs" / "none-seed1").exists()  # not started after the signal


def test_overall_pools_like_one_evaluation_of_the_whole_eval_set() -> None:
    cats = {
        "simple": {"token_accuracy": 0.9, "loss": 0.5, "answer_accuracy": 1.0, "n_tokens": 100, "n_answered": 4},
        "medium": {"token_accuracy": 0.6, "loss": 1.5, "answer_accuracy": 0.25, "n_tokens": 300, "n_answered": 8},
        "hard": {"token_accuracy": 0.3, "loss": 2.5, "answer_accuracy": None, "n_tokens": 600, "n_answered": 0},
    }
    got = overall_metrics(cats)
    assert got["token_accuracy"] == pytest.approx(np.average([0.9, 0.6, 0.3], weights=[100, 300, 600]))
    assert got["loss"] == pytest.approx(np.average([0.5, 1.5, 2.5], weights=[100, 300, 600]))
    # hard has nothing to answer: it adds nothing; the others pool by answered samples
    assert got["answer_accuracy"] == pytest.approx((1.0 * 4 + 0.25 * 8) / 12)
    cats["hard"]["n_answered"] = 3  # answers to check but no number: not computed, so not available
    assert overall_metrics(cats)["answer_accuracy"] is None
    cats["medium"]["loss"] = float("nan")
    assert overall_metrics(cats)["loss"] is None and overall_metrics(cats)["token_accuracy"] is not None
