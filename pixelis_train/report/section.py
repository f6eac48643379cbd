"""The run section of ``pixelis report`` and the report dispatch: run directories here, the rest on the data side."""

from __future__ import annotations

from pathlib import Path

from pixelis_data.config import DataConfig
from pixelis_data.report import ReportInputError, ReportResult, write_report
from pixelis_data.report import build_report as build_data_report
from pixelis_data.report import detect_kind as detect_data_kind
from pixelis_data.report.html import Section, Table
from pixelis_train.curriculum.events import Event, event_label
from pixelis_train.report.experiment import build_experiment_report, is_experiment_dir
from pixelis_train.report.legs import leg_rows, legs_sentence
from pixelis_train.report.plots import run_figures
from pixelis_train.report.view import RunView, category_order, run_view
from pixelis_train.runlog import METRICS_FILE


def is_run_dir(path: Path) -> bool:
    """A directory holding a run log (``pixelis train --out``)."""
    return path.is_dir() and (path / METRICS_FILE).is_file()


def detect_kind(path: Path) -> str:
    """``experiment`` / ``run`` for those directories, else the data side's kind (``scores``, ``split``);
    ReportInputError if none."""
    if is_experiment_dir(path):
        return "experiment"
    if is_run_dir(path):
        return "run"
    try:
        return detect_data_kind(path)
    except ReportInputError:
        if path.is_dir() and not (path / "manifest.json").exists():
            raise ReportInputError(
                f"{path}: a directory with neither manifest.json (a `pixelis split` output) nor {METRICS_FILE} "
                "(a `pixelis train` run)"
            ) from None
        raise


def build_report(path: Path, output: Path, config: DataConfig | None = None) -> ReportResult:
    """The report of whatever ``path`` is: an experiment or run directory, a split directory or a scores file."""
    path, output = Path(path), Path(output)
    kind = detect_kind(path)
    if kind == "experiment":
        return build_experiment_report(path, output)
    if kind == "run":
        return build_run_report(path, output)
    return build_data_report(path, output, config)


def build_run_report(path: Path, output: Path) -> ReportResult:
    """Draw the run's figures and write ``output`` + its PNGs (ReportDependencyError without matplotlib)."""
    return write_report("run", Path(path), Path(output), run_section(run_view(Path(path))))


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _event_words(event: Event) -> tuple[str, str]:
    """What happened and the stage change; a rejected advance is not shown as a 'rollback 0 -> 0'."""
    kind, change = event_label(event)
    return kind, f"{change} ({event.stage_name})"


def run_section(view: RunView) -> Section:
    paragraphs = [legs_sentence(view.legs)]
    if view.start is not None:
        paragraphs.append(
            f"base model {view.start.base_model}, trainable parameters "
            f"{view.start.trainable_params:,} of {view.start.total_params:,}"
        )
    timeline = Table(
        "stage timeline",
        ["step", "from", "to", "event", "why"],
        [[str(c.step), c.before, c.after, c.kind, c.reason] for c in view.timeline.changes]
        or [["-", "-", "-", "-", "no stage change"]],
        ("from", "to", "event", "why"),
    )
    marked = [e for e in view.events if e.kind != "hold"]
    event_rows = [[str(i), str(e.step), *_event_words(e), e.reason] for i, e in enumerate(marked, start=1)]
    events = Table(
        "curriculum events (numbers as in the timeline figure)",
        ["#", "step", "event", "stage", "why"],
        event_rows or [["-", "-", "-", "-", "only holds"]],
        ("event", "stage", "why"),
    )
    final = Table(
        "final per-category performance (held-out eval)",
        ["category", "token acc", "exp(-loss)", "action acc", "answer acc", "loss", "samples"],
        [
            [
                c,
                _f(r["token_accuracy"]),
                _f(r["exp_neg_loss"]),
                _f(r["action_accuracy"]),
                _f(r["answer_accuracy"]),
                _f(r["loss"], 4),
                "-" if r["n_samples"] is None else str(int(r["n_samples"])),
            ]
            for c, r in view.final_eval.items()
        ],
        ("category",),
    )
    order = category_order(view)
    if order is not None:
        paragraphs.append(order)
    skills = Table(
        "final per-skill performance (held-out eval, all categories; a sample counts for each operation it uses)",
        ["skill", "samples", "token acc", "loss", "answered", "answer acc"],
        [
            [
                r["skill"],
                str(int(r["n_samples"])),
                _f(r["token_accuracy"]),
                _f(r["loss"], 4),
                str(int(r["n_answered"])),
                _f(r["answer_accuracy"]),
            ]
            for r in view.final_skills.iter_rows(named=True)
        ]
        or [["-", "-", "-", "-", "-", "no per-skill numbers in this log"]],
        ("skill",),
    )
    warnings = [f"{view.skipped_lines} unreadable line(s) in metrics.jsonl skipped"] if view.skipped_lines else []
    if view.config_problem is not None:
        no_line = "; the performance figure has no min_performance line" if view.min_performance is None else ""
        warnings.append(view.config_problem + no_line)
    legs = Table(
        "legs (one per process that trained the run; a resume continues from a checkpoint)",
        ["leg", "steps", "stopped", "time", "how"],
        leg_rows(view.legs),
        ("stopped", "how"),
    )
    return Section(
        id="run",
        title=f"Run: {view.path.name}",
        paragraphs=paragraphs,
        tables=[*([legs] if len(view.legs) > 1 else []), timeline, final, skills, events],
        figures=run_figures(view),
        warnings=warnings,
    )
