"""The experiment section of ``pixelis report``: an experiment directory's ``comparison.json`` -> HTML.

The comparison table, the paired differences, the per-run table, the verdict, and two figures: the
learning curves per arm (mean over seeds and a band of the t interval, one colour per arm) and the final
token accuracy of every seed with each arm's mean and interval. Everything is read from comparison.json
(``pixelis experiment`` wrote it from the runs' logs), so the page shows exactly what the terminal did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelis_data.report import ReportInputError, ReportResult, write_report
from pixelis_data.report.figures import FigureOut, empty_note, figure, new_figure
from pixelis_data.report.html import Section, Table
from pixelis_train.experiment.arms import COMPARISON_FILE
from pixelis_train.experiment.comparison import ComparisonError, read_comparison
from pixelis_train.experiment.results import OVERALL
from pixelis_train.experiment.table import arms_in_order, comparison_table, difference_table, runs_table

ARM_COLOURS = {"none": "#555555", "fixed": "#1f77b4", "adaptive": "#2e7d32", "shuffled": "#e3a23b", "anti": "#c8553d"}
EXTRA_COLOURS = ("#8e44ad", "#16a085", "#d35400")


def is_experiment_dir(path: Path) -> bool:
    """A directory holding a comparison.json (``pixelis experiment --out``)."""
    return path.is_dir() and (path / COMPARISON_FILE).is_file()


def _colour(arm: str, i: int) -> str:
    return ARM_COLOURS.get(arm, EXTRA_COLOURS[i % len(EXTRA_COLOURS)])


def _curve_figure(comparison: dict[str, Any]) -> FigureOut:
    fig = new_figure(10, 4)
    axes = fig.subplots(1, 2)
    pct = round(comparison["confidence"] * 100)
    drawn = False
    for ax, metric, label in zip(
        axes, ("token_accuracy", "loss"), ("overall token accuracy", "overall loss"), strict=True
    ):
        for i, arm in enumerate(arms_in_order(comparison)):
            summary = comparison["arms"][arm]
            points = [p for p in summary["curve"] if p[metric]["mean"] is not None]
            if not points:
                continue
            drawn = True
            steps = [p["step"] for p in points]
            colour = _colour(arm, i)
            ax.plot(
                steps,
                [p[metric]["mean"] for p in points],
                marker="o",
                color=colour,
                label=f"{arm} (n={points[-1]['n']})",
            )
            band = [p for p in points if p[metric]["low"] is not None]
            if band:
                ax.fill_between(
                    [p["step"] for p in band],
                    [p[metric]["low"] for p in band],
                    [p[metric]["high"] for p in band],
                    color=colour,
                    alpha=0.18,
                    linewidth=0,
                )
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(label)
        if drawn:
            ax.legend(fontsize=8)
        else:
            empty_note(ax, "no finished run")
    return figure(
        "experiment-curves",
        "Learning curves per arm",
        f"Held-out overall token accuracy and loss at every evaluation: the mean over the seeds of each arm, and a "
        f"band of its {pct}% Student t interval (none with a single seed).",
        fig,
    )


def _final_figure(comparison: dict[str, Any]) -> FigureOut:
    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    pct = round(comparison["confidence"] * 100)
    arms = arms_in_order(comparison)
    shown = False
    for i, arm in enumerate(arms):
        d = comparison["arms"][arm]["final"].get(OVERALL, {}).get("token_accuracy")
        if not d or d["mean"] is None:
            continue
        shown = True
        values = [v for v in d["per_seed"].values() if v is not None]
        colour = _colour(arm, i)
        ax.scatter([i] * len(values), values, color=colour, alpha=0.6, zorder=3)
        if d["low"] is not None:
            ax.errorbar(
                [i + 0.15],
                [d["mean"]],
                yerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]],
                fmt="D",
                color=colour,
                capsize=5,
                zorder=4,
            )
        else:
            ax.plot([i + 0.15], [d["mean"]], marker="D", color=colour, zorder=4)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("final overall token accuracy")
    if not shown:
        empty_note(ax, "no finished run")
    return figure(
        "experiment-final",
        "Final token accuracy per seed",
        f"Dots: each seed's final held-out overall token accuracy; diamond and bars: the arm's mean and {pct}% t "
        "interval over seeds.",
        fig,
    )


def _table(title: str, built: tuple[list[str], list[list[str]]], text: tuple[str, ...]) -> Table:
    columns, rows = built
    return Table(title, columns, rows or [["-"] * len(columns)], text)


def experiment_section(comparison: dict[str, Any], path: Path) -> Section:
    """The section of an experiment: plan, verdict, tables and figures."""
    plan = comparison["plan"]
    target = comparison["target"]
    paragraphs = [
        f"Split {plan['split']}, model {plan['model']}, arms {', '.join(plan['arms'])} x seeds "
        f"{', '.join(map(str, plan['seeds']))}"
        + (f", {plan['steps']} steps" if plan.get("steps") else "")
        + (f", config {plan['config']}" if plan.get("config") else "")
        + (f", --set {' '.join(plan['sets'])}" if plan.get("sets") else "")
        + f". Reference arm: {comparison['reference']}.",
        comparison["verdict"],
    ]
    if target["token_accuracy"] is not None:
        paragraphs.append(
            f"Steps to target: the first evaluation whose overall token accuracy reaches "
            f"{target['fraction']:.0%} of the best arm's mean final one ({target['best_arm']}: "
            f"{target['best_final_token_accuracy']:.3f}, target {target['token_accuracy']:.3f})."
        )
    not_finished = [r for r in comparison["runs"] if r["state"] != "finished"]
    warnings = [
        f"{r['arm']}-seed{r['seed']}: {r['state']}"
        + (" (failed: see its error.txt)" if r["failed"] else "")
        + " - left out of every number"
        for r in not_finished
    ]
    return Section(
        id="experiment",
        title=f"Experiment: {path.name}",
        paragraphs=paragraphs,
        tables=[
            _table("comparison (final held-out metrics, overall)", comparison_table(comparison), ("arm",)),
            _table(
                f"paired differences against {comparison['reference']} (same seed)",
                difference_table(comparison),
                ("arm", "scope"),
            ),
            _table("runs", runs_table(comparison), ("run", "state")),
        ],
        figures=[_curve_figure(comparison), _final_figure(comparison)],
        warnings=warnings,
    )


def build_experiment_report(path: Path, output: Path) -> ReportResult:
    """Read ``path/comparison.json`` and write the report (ReportInputError for a bad comparison)."""
    try:
        comparison = read_comparison(Path(path))
    except ComparisonError as err:
        raise ReportInputError(str(err)) from None
    return write_report("experiment", Path(path), Path(output), experiment_section(comparison, Path(path)))
