"""``build_report``: a scores file or split directory -> report.html + its figures as PNGs; ``write_report``
for any section (the training side writes its run report with it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pixelis_data
from pixelis_core.atomic import write_bytes_atomic, write_text_atomic
from pixelis_data.config import DataConfig
from pixelis_data.report.html import Section, Table, render_html
from pixelis_data.report.inputs import detect_kind
from pixelis_data.report.plots_data import scores_figures, split_figures
from pixelis_data.report.scores import ScoresView, scores_view
from pixelis_data.report.split import SplitView, split_view


@dataclass(frozen=True)
class ReportResult:
    """What was written."""

    kind: str
    """'scores', 'split', or the kind of another package's report (``pixelis_train.report``: 'run')."""
    html: Path
    figures: list[Path]


def figures_dir_for(output: Path) -> Path:
    """``out/report.html`` -> ``out/report_figures/`` (the PNGs of the same figures)."""
    return output.with_name(output.stem + "_figures")


def default_report_path(path: Path) -> Path:
    """Where ``pixelis report PATH`` writes without ``-o``: beside its input, as ``score`` and ``split`` do.

    ``data.scores.parquet`` -> ``data.scores.report.html``; a directory ``runs/demo`` (or ``data.split``) ->
    ``runs/demo.report.html``, next to it rather than inside, so a split or a run still being written gets
    no foreign files. The PNGs go to ``<stem>_figures/`` beside it (``figures_dir_for``).
    """
    name = path.name or path.resolve().name  # "." has no name of its own
    if not path.is_dir() and name.lower().endswith(".parquet"):
        name = name[: -len(".parquet")]
    parent = path.parent if path.name else path.resolve().parent
    return parent / f"{name}.report.html"


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
    validity = []
    if view.validity is not None:
        v = view.validity
        validity.append(
            Table(
                f"agreement with model_difficulty (Spearman over {v.n:,} samples with a model score)",
                ["column", "Spearman"],
                [[name, "n/a" if math.isnan(rho) else f"{rho:.3f}"] for name, rho in v.spearman.items()],
                ("column",),
            )
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
        tables=[summary, *validity, *by_type],
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


def build_report(path: Path, output: Path, config: DataConfig | None = None) -> ReportResult:
    """Detect what ``path`` is (scores or split), draw its figures, write the PNGs then ``output``.

    Raises ReportInputError for unusable input and ReportDependencyError without matplotlib.
    """
    config = config or DataConfig()
    path, output = Path(path), Path(output)
    kind = detect_kind(path)
    section = scores_section(scores_view(path, config)) if kind == "scores" else split_section(split_view(path))
    return write_report(kind, path, output, section)


def write_report(kind: str, path: Path, output: Path, section: Section) -> ReportResult:
    """Write the section's figures as PNGs beside ``output``, then the HTML page (each atomically)."""
    fig_dir = figures_dir_for(output)
    written = []
    for fig in section.figures:
        target = fig_dir / f"{fig.id}.png"
        write_bytes_atomic(target, fig.png)
        written.append(target)
    meta = f"{kind} report of {path} - pixelis {pixelis_data.__version__}; PNGs in {fig_dir.name}/"
    write_text_atomic(output, render_html(f"pixelis report: {kind}", meta, [section]))
    return ReportResult(kind=kind, html=output, figures=written)
