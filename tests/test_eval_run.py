"""Answer accuracy and per-skill numbers in real tiny-text runs: in metrics.jsonl, the terminal summary and
the run report; generating answers leaves training bit-identical; the last evaluation always has them."""

from __future__ import annotations

import json

import pytest
from run_records import assert_same_adapter
from test_train_e2e import small_config
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.config_io import dump_yaml
from pixelis_data.schema import CATEGORIES
from pixelis_train.demo_data import make_demo_split
from pixelis_train.loop import train
from pixelis_train.report import run_view
from pixelis_train.runlog import EvalRecord, read_run_log

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")]
runner = CliRunner()


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    return make_demo_split(root / "split", root / "images", n_per_category=8, n_eval_per_category=3), root / "images"


def _evals(run) -> list[EvalRecord]:
    return read_run_log(run / "metrics.jsonl").of(EvalRecord)


def test_cli_run_logs_answers_and_skills_and_the_report_shows_them(split, tmp_path, monkeypatch):
    from pixelis_cli.common import console

    monkeypatch.setattr(console, "width", 160)  # the summary table on one line per category
    split_dir, images = split
    cfg = tmp_path / "c.yaml"
    # 6 steps, an evaluation at 4 (no answers: answer_every 0), then the final one at 6 with answers
    cfg.write_text(dump_yaml(small_config("tiny-text", images, **{"optim.steps": 6, "checkpoint.average_last": 0})))
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(split_dir), "--config", str(cfg), "--out", str(run), "--no-live"])
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("final per-category performance") :].splitlines()
    assert "answer acc" in table[2]
    printed = {cells[1].strip(): cells[5].strip() for cells in (line.split("│") for line in table) if len(cells) == 9}

    evals = _evals(run)
    assert [(r.step, r.final) for r in evals] == [(4, False), (6, True)]
    assert all(m["answer_accuracy"] is None for m in evals[0].categories.values())
    last = evals[-1].categories
    assert set(last) == set(CATEGORIES)
    assert all(0.0 <= m["answer_accuracy"] <= 1.0 and m["n_answered"] == 3 for m in last.values())
    assert printed == {c: f"{m['answer_accuracy']:.3f}" for c, m in last.items()}  # the summary's column
    for record in evals:  # skills in every evaluation, every category: the task type and the operations
        assert set(record.skills) == set(CATEGORIES)
        for category, skills in record.skills.items():
            assert skills["task_type/attribute_recognition"]["n_samples"] == record.categories[category]["n_samples"]
            assert "op/ZOOM_IN" in skills and "op/THINK" not in skills
    raw = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "hard/skill/op/GET_PROPERTIES/loss" in [r for r in raw if r["kind"] == "eval"][-1]

    view = run_view(run)
    assert {c: r["answer_accuracy"] for c, r in view.final_eval.items()} == {
        c: m["answer_accuracy"] for c, m in last.items()
    }
    skills = {r["skill"]: r for r in view.final_skills.iter_rows(named=True)}
    assert list(skills) == ["task_type/attribute_recognition", "op/GET_PROPERTIES", "op/ZOOM_IN"]
    assert skills["task_type/attribute_recognition"]["n_samples"] == 9  # 3 per category
    assert skills["op/GET_PROPERTIES"]["n_samples"] == 6  # medium and hard only
    n_right = sum(m["answer_accuracy"] * m["n_answered"] for m in last.values())
    assert skills["task_type/attribute_recognition"]["answer_accuracy"] == pytest.approx(n_right / 9)

    out = tmp_path / "report.html"
    report = runner.invoke(app, ["report", str(run), "-o", str(out)])
    assert report.exit_code == 0, report.output
    assert "run-answers" in report.output
    html = out.read_text()
    for part in ("answer acc", "final per-skill performance", "op/GET_PROPERTIES", "at the last evaluation (step 6)"):
        assert part in html, part
    assert '<figure id="run-answers">' in html


def test_generating_answers_leaves_training_bit_identical(split, tmp_path):
    split_dir, images = split
    base = {"optim.steps": 8, "checkpoint.average_last": 0, "logging.every": 1}
    plain, answering = tmp_path / "plain", tmp_path / "answering"
    train(split_dir, small_config("tiny-text", images, **base), plain)
    train(split_dir, small_config("tiny-text", images, **base, **{"eval.answer_every": 1}), answering)

    def lines(run, kind):
        return [r for r in read_run_log(run / "metrics.jsonl").as_json() if r["kind"] == kind]

    def losses(run):
        return [(r["step"], r["loss"], r["grad_norm"], r["stage"]) for r in lines(run, "train")]

    assert losses(plain) == losses(answering)
    assert lines(plain, "curriculum") == lines(answering, "curriculum")
    a, b = _evals(plain), _evals(answering)
    assert [r.step for r in a] == [r.step for r in b] == [4, 8]
    assert all(m["answer_accuracy"] is None for m in a[0].categories.values())
    assert all(m["answer_accuracy"] is not None for m in b[0].categories.values())
    for x, y in zip(a, b, strict=True):  # the teacher-forced numbers are the same, bit for bit
        drop = {"answer_accuracy"}
        assert {c: {k: v for k, v in m.items() if k not in drop} for c, m in x.categories.items()} == {
            c: {k: v for k, v in m.items() if k not in drop} for c, m in y.categories.items()
        }
    assert a[-1].categories == b[-1].categories  # the last evaluation has answers in both
    assert_same_adapter(plain, answering)


def test_an_early_stop_ends_with_an_evaluation_that_has_answers(split, tmp_path):
    split_dir, images = split
    # a learning rate of ~0 cannot improve the metric: stop after `patience` evaluations without gain
    cfg = small_config(
        "tiny-text",
        images,
        **{
            "optim.lr": 1e-12,
            "eval.early_stopping_patience": 1,
            "eval.early_stopping_min_delta": 0.5,
            "checkpoint.average_last": 0,
        },
    )
    summary = train(split_dir, cfg, tmp_path / "run")
    assert summary.stopped == "early stopping" and summary.steps_done == 8
    evals = _evals(tmp_path / "run")
    # the evaluation that decided at step 8 had no answers (not the run's planned last step): a final one follows
    assert [(r.step, r.final) for r in evals] == [(4, False), (8, False), (8, True)]
    assert all(m["answer_accuracy"] is not None for m in evals[-1].categories.values())
    assert all(m.answer_accuracy is not None for m in summary.final_eval.values())
    assert run_view(tmp_path / "run").final_eval["simple"]["answer_accuracy"] is not None
