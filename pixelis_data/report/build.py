"""``build_report``: a scores file, split directory or run directory -> report.html + its figures as PNGs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pixelis_data
from pixelis_core.atomic import write_bytes_atomic, write_text_atomic
from pixelis_data.config import DataConfig
from pixelis_data.report.html import Section, Table, render_html
from pixelis_data.report.inputs import ReportKind, detect_kind
from pixelis_data.report.plots_data import scores_figures, split_figures
from pixelis_data.report.plots_run import run_figures
from pixelis_data.report.run import RunView, run_view
from pixelis_data.report.scores import ScoresView, scores_view
from pixelis_data.report.split import SplitView, split_view


@dataclass(frozen=True)
class ReportResult:
    """What was written."""

    kind: ReportKind
    html: Path
    figures: list[Path]


def figures_dir_for(output: Path) -> Path:
    """``out/report.html`` -> ``out/report_figures/`` (the PNGs of the same figures)."""
    return output.with_name(output.stem + "_figures")


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def scores_section(view: ScoresView) -> Section:
    t = view.thresholds
    summary = Table(
        "factors (as in the `pixelis score` report)",
        ["factor", "weight", "mean", "p10", "p50", "p90"],
        [
            [name, "" if name not in view.weights else f"{view.weights[name]:g}", *(_f(v) for v in rest)]
            for name, *rest in view.summary.iter_rows()
        ],
        ("factor",),
    )
    by_type = [
        Table(
            f"mean difficulty by {key}",
            [key, "samples", "mean"],
            [[str(k), f"{n:,}", _f(m)] for k, n, m in frame.iter_rows()],
            (key,),
        )
        for frame, key in ((view.by_task, "task_type"), (view.by_sample, "sample_type"))
    ]
    return Section(
        id="scores",
        title=f"Scores: {view.path.name}",
        paragraphs=[
            f"{view.n:,} scored samples. Thresholds as `pixelis split` computes them: simple <= {t.t_simple:.6g} "
            f"(P{t.simple_percentile:g}) < medium <= {t.t_medium:.6g} (P{t.medium_percentile:g}) < hard; IQR filter "
            f"kept {t.n_kept:,} of {t.n_scores:,} scores ({t.n_outliers:,} outliers, still categorised). "
            "Categories: " + ", ".join(f"{c} {n:,}" for c, n in view.category_counts.items()) + "."
        ],
        tables=[summary, *by_type],
        figures=scores_figures(view),
    )


def split_section(view: SplitView) -> Section:
    m = view.manifest
    rows = [
        [
            c["category"],
            f"{c['n']:,}",
            f"{c['share']:.1%}",
            f"{c['n_train']:,}",
            f"{c['n_eval']:,}",
            f"{c['n_eval'] / c['n']:.1%}" if c["n"] else "-",
            f"{c['score_min']:.3f}-{c['score_max']:.3f}" if c["n"] else "-",
            f"{len(c['task_types'])}/{len(c['sample_types'])}",
        ]
        for c in view.categories
    ]
    table = Table(
        f"split of {m['n_samples']:,} samples ({m['n_train']:,} train, {m['n_eval']:,} eval)",
        ["category", "samples", "share", "train", "eval", "held out", "scores", "task/sample types"],
        rows,
        ("category", "scores"),
    )
    iqr = m["iqr"]
    return Section(
        id="split",
        title=f"Split: {view.path.name}",
        paragraphs=[
            f"Thresholds: simple <= {view.thresholds[0]:.6g} (P{view.percentiles[0]:g}) < medium <= "
            f"{view.thresholds[1]:.6g} (P{view.percentiles[1]:g}) < hard; IQR filter kept {iqr['n_kept']:,} "
            f"of {iqr['n_scores']:,} scores. Eval: {m['eval']['mode']} mode, hash {m['eval']['hash']}."
        ],
        tables=[table],
        figures=split_figures(view),
        warnings=view.warnings,
    )


def run_section(view: RunView) -> Section:
    paragraphs = []
    end = view.end
    if end is not None:
        line = f"steps 0 -> {end['step']} ({end.get('stopped', '?')})"
        total = end.get("time_total")
        if total:
            line += f"; time {total:.1f}s: " + ", ".join(
                f"{k} {end.get(f'time_{k}', 0.0) / total:.1%}" for k in ("data", "compute", "eval", "checkpoint")
            )
        paragraphs.append(line)
    else:
        paragraphs.append(f"in progress or interrupted: last record at step {view.last_step}")
    if view.start.get("base_model"):
        paragraphs.append(
            f"base model {view.start['base_model']}, trainable parameters "
            f"{view.start.get('trainable_params', 0):,} of {view.start.get('total_params', 0):,}"
        )
    timeline = Table(
        "stage timeline",
        ["step", "from", "to", "event", "why"],
        [[str(t["step"]), t["from"], t["to"], t["kind"], t["reason"]] for t in view.timeline]
        or [["-", "-", "-", "-", "no stage change"]],
        ("from", "to", "event", "why"),
    )
    marked = [e for e in view.events if e["kind"] != "hold"]
    event_rows = [
        [
            str(i),
            str(e["step"]),
            e["kind"],
            f"{e['stage_before']} -> {e['stage_after']} ({e['stage_name']})",
            e["reason"],
        ]
        for i, e in enumerate(marked, start=1)
    ]
    events = Table(
        "curriculum events (numbers as in the timeline figure)",
        ["#", "step", "event", "stage", "why"],
        event_rows or [["-", "-", "-", "-", "only holds"]],
        ("event", "stage", "why"),
    )
    final = Table(
        "final per-category performance (held-out eval)",
        ["category", "token acc", "exp(-loss)", "action acc", "loss", "samples"],
        [
            [
                c,
                _f(r["token_accuracy"]),
                _f(r["exp_neg_loss"]),
                _f(r["action_accuracy"]),
                _f(r["loss"], 4),
                "-" if r["n_samples"] is None else str(int(r["n_samples"])),
            ]
            for c, r in view.final_eval.items()
        ],
        ("category",),
    )
    warnings = [f"{view.skipped_lines} unreadable line(s) in metrics.jsonl skipped"] if view.skipped_lines else []
    return Section(
        id="run",
        title=f"Run: {view.path.name}",
        paragraphs=paragraphs,
        tables=[timeline, final, events],
        figures=run_figures(view),
        warnings=warnings,
    )


def build_report(path: Path, output: Path, config: DataConfig | None = None) -> ReportResult:
    """Detect what ``path`` is, draw its figures, write the PNGs then ``output`` (each atomically).

    Raises ReportInputError for unusable input and ReportDependencyError without matplotlib.
    """
    config = config or DataConfig()
    path, output = Path(path), Path(output)
    kind = detect_kind(path)
    if kind == "scores":
        section = scores_section(scores_view(path, config))
    elif kind == "split":
        section = split_section(split_view(path))
    else:
        section = run_section(run_view(path))
    fig_dir = figures_dir_for(output)
    written = []
    for fig in section.figures:
        target = fig_dir / f"{fig.id}.png"
        write_bytes_atomic(target, fig.png)
        written.append(target)
    meta = f"{kind} report of {path} - pixelis {pixelis_data.__version__}; PNGs in {fig_dir.name}/"
    write_text_atomic(output, render_html(f"pixelis report: {kind}", meta, [section]))
    return ReportResult(kind=kind, html=output, figures=written)
