"""Figures of the run section: losses, per-category performance, curriculum timeline, throughput."""

from __future__ import annotations

from typing import Any

import polars as pl

from pixelis_data.report.figures import CATEGORY_COLOURS, FigureOut, empty_note, figure, new_figure
from pixelis_train.curriculum.events import Event
from pixelis_train.report.view import RunView

EVENT_STYLE = {  # marker, colour
    "advance": ("^", "#2e7d32"),
    "forced_advance": ("D", "#ef6c00"),
    "rollback": ("v", "#c62828"),
}
STAGE_COLOURS = ("#dbe9f6", "#fde9d2", "#e2f0d9", "#f3dcec", "#fff5cc", "#e0e0f0", "#d9f2f2")
RESUME_COLOUR = "#6a1b9a"
THRESHOLD_COLOUR = "#00838f"  # teal: apart from the categories, black and the purple resume marks


def _stage_bands(ax: Any, view: RunView) -> None:
    """Pale background bands, one per stage segment, so every step-axis figure shows the stage."""
    for seg in view.timeline.segments:
        ax.axvspan(
            seg.start,
            max(seg.end, seg.start + 0.5),
            color=STAGE_COLOURS[seg.stage % len(STAGE_COLOURS)],
            zorder=0,
            linewidth=0,
        )


def _resume_marks(ax: Any, view: RunView) -> None:
    """A dash-dot line where each resumed leg began (gid ``resume-<step>``; the first one in the legend)."""
    for k, leg in enumerate(leg for leg in view.legs if leg.resumed):
        ax.axvline(
            leg.start,
            color=RESUME_COLOUR,
            linestyle="-.",
            linewidth=1.5,
            gid=f"resume-{leg.start}",
            label="resumed" if k == 0 else None,
        )


def _resume_caption(view: RunView) -> str:
    starts = [str(leg.start) for leg in view.legs if leg.resumed]
    return f" Dash-dot: resumed at step {', '.join(starts)}." if starts else ""


def _marked_events(view: RunView) -> list[Event]:
    return [e for e in view.events if e.kind in EVENT_STYLE]


def run_figures(view: RunView) -> list[FigureOut]:
    """Four figures, and answer accuracy over steps when the log has it (runs before it existed do not);
    an axis without data says so instead of disappearing."""
    figures = [_loss_figure(view), _performance_figure(view), _curriculum_figure(view), _throughput_figure(view)]
    if view.evals.height and view.evals["answer_accuracy"].is_not_null().any():
        figures.append(_answers_figure(view))
    return figures


def _loss_figure(view: RunView) -> FigureOut:
    """Train loss and eval loss per category over steps, on the stage bands."""
    segments = view.timeline.segments
    stages = ", ".join(f"{s.stage_name} {s.start}-{s.end}" for s in segments)
    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    _stage_bands(ax, view)
    if view.train.height:
        ax.plot(view.train["step"], view.train["loss"], color="#333333", label="train loss")
    for category in view.evals["category"].unique(maintain_order=True).to_list():
        rows = view.evals.filter(pl.col("category") == category)
        ax.plot(
            rows["step"],
            rows["loss"],
            marker="o",
            linestyle="--",
            color=CATEGORY_COLOURS.get(category),
            label=f"eval loss {category}",
        )
    _resume_marks(ax, view)
    if view.train.height or view.evals.height:
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    else:
        empty_note(ax, "no train or eval records yet")
    return figure(
        "run-loss",
        "Training and eval loss",
        f"Train loss per log interval and held-out eval loss per category. Background: stages ({stages})."
        + _resume_caption(view),
        fig,
    )


def _threshold_caption(view: RunView) -> str:
    if view.min_performance is not None:
        return (
            f" Teal dashed: min_performance {view.min_performance:g}, what the mean of the last curriculum.window "
            "stage performances (black) must reach for an advance."
        )
    if view.policy is not None and view.policy != "adaptive":
        return f" No threshold line: the {view.policy} policy advances on planned steps, not on performance."
    return " No threshold line: the run names no min_performance (no adaptive decision and no config.yaml)."


def _performance_figure(view: RunView) -> FigureOut:
    """The curriculum metric per category, the stage performance, the advance threshold, the marked events."""
    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    _stage_bands(ax, view)
    metric = view.metric or "token_accuracy"
    for category in view.evals["category"].unique(maintain_order=True).to_list():
        rows = view.evals.filter(pl.col("category") == category)
        ax.plot(rows["step"], rows[metric], marker="o", color=CATEGORY_COLOURS.get(category), label=category)
    perf = [(e.step, e.performance) for e in view.events if e.performance is not None]
    if perf:
        ax.plot([s for s, _ in perf], [p for _, p in perf], color="black", linewidth=2, label="stage performance")
    if view.min_performance is not None:
        ax.axhline(
            view.min_performance,
            color=THRESHOLD_COLOUR,
            linestyle="--",
            linewidth=1.5,
            gid="min-performance",
            zorder=1.5,  # under the curves and the event lines: a reference, not data
            label=f"min_performance {view.min_performance:g}",
        )
    for e in _marked_events(view):
        colour = EVENT_STYLE[e.kind][1]
        ax.axvline(e.step, color=colour, linestyle=":", linewidth=1)
    _resume_marks(ax, view)
    if view.evals.height:
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(metric)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    else:
        empty_note(ax, "no evaluations yet")
    return figure(
        "run-performance",
        "Per-category performance",
        f"{metric} on the held-out eval set per category; black: the stage-weighted performance the "
        "curriculum decided on; dotted lines: advances and rollbacks."
        + _threshold_caption(view)
        + _resume_caption(view),
        fig,
    )


def _curriculum_figure(view: RunView) -> FigureOut:
    """Stage in force over steps, numbered events, cooldowns."""
    segments = view.timeline.segments
    fig = new_figure(9, 1.6 + 0.45 * max(len({s.stage for s in segments}), 2))
    ax = fig.add_subplot()
    names = {s.stage: s.stage_name for s in segments}
    for seg in segments:
        ax.broken_barh(
            [(seg.start, max(seg.end - seg.start, 0.5))],
            (seg.stage - 0.35, 0.7),
            facecolors=STAGE_COLOURS[seg.stage % len(STAGE_COLOURS)],
            edgecolors="#555555",
        )
    cooldowns = [(c.start, min(c.end, max(view.last_step, c.start))) for c in view.timeline.cooldowns]
    for start, until in cooldowns:
        ax.axvspan(
            start,
            max(until, start + 0.5),
            color="#c62828",
            alpha=0.12,
            hatch="///",
            linewidth=0,
            label="cooldown" if (start, until) == cooldowns[0] else None,
        )
    for number, e in enumerate(_marked_events(view), start=1):
        marker, colour = EVENT_STYLE[e.kind]
        y = e.stage_after if e.kind != "rollback" else e.stage_before
        ax.plot(
            [e.step],
            [y],
            marker=marker,
            color=colour,
            markersize=11,
            linestyle="none",
            label=e.kind if e is next(x for x in _marked_events(view) if x.kind == e.kind) else None,
        )
        ax.annotate(str(number), (e.step, y), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=8)
    ax.set_yticks(sorted(names), [names[i] for i in sorted(names)])
    ax.set_ylim(min(names) - 0.7, max(names) + 0.8)
    ax.set_xlim(0, max(view.last_step, 1))
    ax.set_xlabel("optimizer step")
    _resume_marks(ax, view)
    if cooldowns or _marked_events(view) or len(view.legs) > 1:
        ax.legend(fontsize=8, loc="upper left")
    return figure(
        "run-curriculum",
        "Curriculum timeline",
        "Stage in force over steps; numbered markers are the events listed in the table below "
        "(with their reasons); hatched: cooldown after a rollback." + _resume_caption(view),
        fig,
    )


def _throughput_figure(view: RunView) -> FigureOut:
    """Samples/s and tokens/s per log interval, in two stacked panels sharing the step axis (one scale
    each, and neither line hidden behind the other as on twin axes)."""
    fig = new_figure(9, 5)
    top, bottom = fig.subplots(2, 1, sharex=True)
    if view.train.height:
        for ax, column, colour in ((top, "samples_per_s", "#5b7db1"), (bottom, "tokens_per_s", "#c8553d")):
            _stage_bands(ax, view)
            label = column.replace("_per_s", "/s")
            ax.plot(view.train["step"], view.train[column], color=colour, marker=".", label=label)
            _resume_marks(ax, view)
            ax.set_ylabel(label)
            ax.legend(loc="upper left", fontsize=8)
        bottom.set_xlabel("optimizer step")
    else:
        empty_note(top, "no train records yet")
        empty_note(bottom, "no train records yet")
    return figure(
        "run-throughput",
        "Throughput",
        "Samples (top) and non-padding tokens (bottom) per second of each log interval, data loading included; "
        "the panels share the step axis, each on its own scale." + _resume_caption(view),
        fig,
    )


def _answers_figure(view: RunView) -> FigureOut:
    """Answer accuracy by generation per category at the evaluations that computed it."""
    fig = new_figure(9, 3.6)
    ax = fig.add_subplot()
    _stage_bands(ax, view)
    rows = view.evals.filter(pl.col("answer_accuracy").is_not_null())
    span = max(view.last_step, 1)
    categories = rows["category"].unique(maintain_order=True).to_list()
    for k, category in enumerate(categories):
        own = rows.filter(pl.col("category") == category)
        # side by side at a step (equal accuracies would hide each other, e.g. all 0 at the one final point)
        dodge = (k - (len(categories) - 1) / 2) * 0.008 * span
        colour = CATEGORY_COLOURS.get(category)
        ax.plot(own["step"] + dodge, own["answer_accuracy"], marker="s", color=colour, label=category)
    _resume_marks(ax, view)
    ax.set_xlim(0, span * 1.03)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("answer accuracy")
    ax.legend(fontsize=8)
    return figure(
        "run-answers",
        "Answer accuracy by generation",
        "Share of held-out samples per category whose greedy-decoded answer (teacher-forced through the "
        "trajectory up to <answer>) matches the ground truth after normalisation; computed at every "
        "eval.answer_every-th evaluation and at the last one (the categories' markers side by side at a step).",
        fig,
    )
