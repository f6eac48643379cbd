"""The run report's answer and skill parts, from hand-made metrics.jsonl files: the per-skill table
combines the categories as one evaluation of all their samples would, the loss-ordering sentence, the
answer-accuracy figure only for logs that have answer accuracy."""

from __future__ import annotations

import pytest
from test_report_run import write_run_dir

from pixelis_train import runlog
from pixelis_train.report import run_section, run_view
from pixelis_train.report.plots import run_figures
from pixelis_train.report.view import category_order


def _numbers(loss: float, acc: float, n: int, tokens: int, answer: float | None, answered: int) -> dict:
    return {
        "loss": loss,
        "token_accuracy": acc,
        "exp_neg_loss": 0.5,
        "action_accuracy": acc,
        "n_samples": n,
        "n_tokens": tokens,
        "n_actions": n,
        "answer_accuracy": answer,
        "n_answered": answered,
    }


def _write(path, losses: dict[str, float], *, answers: bool = True):
    """Two evaluations (steps 10 and 20, the second with answers when asked) with per-skill numbers."""
    records: list[runlog.Record] = []
    for step in (10, 20):
        answer = answers and step == 20
        categories = {c: _numbers(loss, 0.5, 4, 100, 0.5 if answer else None, 4) for c, loss in losses.items()}
        skills = {
            "simple": {
                "task_type/counting": _numbers(1.0, 0.25, 3, 60, 1 / 3 if answer else None, 3),
                "op/ZOOM_IN": _numbers(2.0, 0.5, 1, 40, 0.0 if answer else None, 1),
            },
            "hard": {
                "task_type/counting": _numbers(3.0, 0.75, 2, 140, 0.5 if answer else None, 2),
                "op/ZOOM_IN": _numbers(4.0, 1.0, 2, 10, None, 0),  # answers cut off: none answered
            },
        }
        records.append(runlog.EvalRecord(step=step, metric="token_accuracy", categories=categories, skills=skills))
    records.append(runlog.EndRecord(step=20, stopped="completed"))
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(runlog.dumps(r) + "\n" for r in records))
    return path


def test_final_skills_combine_the_categories_as_one_evaluation(tmp_path):
    view = run_view(_write(tmp_path / "run", {"simple": 1.0, "medium": 2.0, "hard": 3.0}))
    rows = {r["skill"]: r for r in view.final_skills.iter_rows(named=True)}
    assert list(rows) == ["task_type/counting", "op/ZOOM_IN"]  # task types first, then operations
    counting = rows["task_type/counting"]
    assert counting["n_samples"] == 5 and counting["n_answered"] == 5
    assert counting["token_accuracy"] == pytest.approx((0.25 * 60 + 0.75 * 140) / 200)  # 120 of 200 tokens
    assert counting["loss"] == pytest.approx((1.0 * 60 + 3.0 * 140) / 200)
    assert counting["answer_accuracy"] == pytest.approx((1 + 1) / 5)  # 1 of 3 and 1 of 2 right
    zoom = rows["op/ZOOM_IN"]
    assert zoom["n_answered"] == 1 and zoom["answer_accuracy"] == 0.0  # hard's null adds nothing
    assert view.skills.height == 2 * 4  # every evaluation's skills are kept


def test_the_section_says_whether_the_categories_are_ordered(tmp_path):
    ordered = run_view(_write(tmp_path / "a", {"simple": 1.0, "medium": 2.0, "hard": 3.0}))
    assert category_order(ordered) == (
        "at the last evaluation (step 20), eval loss simple 1.0000 < medium 2.0000 < hard 3.0000: "
        "the categories are ordered as the split intends"
    )
    mixed = run_view(_write(tmp_path / "b", {"simple": 2.2, "medium": 1.9, "hard": 2.0}))
    assert category_order(mixed) == (
        "at the last evaluation (step 20), eval loss simple 2.2000, medium 1.9000, hard 2.0000: "
        "not ordered as the split intends (medium <= simple; hard <= simple)"
    )
    assert category_order(run_view(_write(tmp_path / "c", {"hard": 2.0}))) is None  # nothing to compare
    section = run_section(mixed)
    assert category_order(mixed) in section.paragraphs
    table = next(t for t in section.tables if t.title.startswith("final per-skill"))
    assert table.rows[0] == ["task_type/counting", "5", "0.600", "2.4000", "5", "0.400"]
    final = next(t for t in section.tables if t.title.startswith("final per-category"))
    assert final.columns[4] == "answer acc" and [r[4] for r in final.rows] == ["0.500"] * 3


def test_answer_figure_only_for_logs_with_answer_accuracy(tmp_path):
    with_answers = [f.id for f in run_figures(run_view(_write(tmp_path / "a", {"simple": 1.0, "hard": 2.0})))]
    assert with_answers[-1] == "run-answers" and len(with_answers) == 5
    without = run_view(_write(tmp_path / "b", {"simple": 1.0, "hard": 2.0}, answers=False))
    assert "run-answers" not in [f.id for f in run_figures(without)]
    # a log from before answers and skills existed: no figure, an empty skill table that says so
    old = run_view(write_run_dir(tmp_path / "old"))
    assert old.final_skills.height == 0 and old.final_eval["simple"]["answer_accuracy"] is None
    table = next(t for t in run_section(old).tables if t.title.startswith("final per-skill"))
    assert table.rows == [["-", "-", "-", "-", "-", "no per-skill numbers in this log"]]
