"""Figures of the scores and split sections (numbers from :mod:`.scores` and :mod:`.split`)."""

from __future__ import annotations

import math

from pixelis_data.report.figures import (
    CATEGORY_COLOURS,
    FigureOut,
    bars,
    close_range,
    empty_note,
    figure,
    heatmap,
    new_figure,
)
from pixelis_data.report.scores import HEURISTIC, ScoresView, Validity
from pixelis_data.report.split import SplitView, type_matrix
from pixelis_data.schema import CATEGORIES, SCORE_COLUMN


def _threshold_lines(ax, t_simple: float, t_medium: float, p_simple: float, p_medium: float) -> None:
    for value, label, colour in (
        (t_simple, f"t_simple P{p_simple:g} = {t_simple:.3f}", CATEGORY_COLOURS["simple"]),
        (t_medium, f"t_medium P{p_medium:g} = {t_medium:.3f}", CATEGORY_COLOURS["hard"]),
    ):
        ax.axvline(value, color=colour, linestyle="--", linewidth=2, label=label)


def validity_figure(v: Validity) -> FigureOut:
    """Scatter of the heuristic composite against model_difficulty, the Spearman in the caption."""
    fig = new_figure(6.5, 5)
    ax = fig.add_subplot()
    if v.n:
        ax.scatter(v.heuristic, v.model, s=8, alpha=0.5, color="#5b7db1", edgecolors="none")
    else:
        empty_note(ax, "no sample has a model_difficulty")
    ax.set_xlabel(f"{HEURISTIC} (factors without model_difficulty)")
    ax.set_ylabel("model_difficulty (percentile of model_loss)")
    ax.set_ylim(-0.02, 1.02)
    rho = v.spearman[HEURISTIC]
    shown = f"{len(v.model):,} of them drawn" if len(v.model) < v.n else "all drawn"
    return figure(
        "scores-validity",
        "Heuristic vs model difficulty",
        f"Spearman rho = {'n/a' if math.isnan(rho) else f'{rho:.3f}'} between the heuristic composite (recomputed "
        f"from the factor columns, as scored without model scores) and model_difficulty, over {v.n:,} samples "
        f"with a model score ({shown}). Near 0: the heuristic factors do not order samples as the model does.",
        fig,
    )


def by_type_figure(view: ScoresView) -> FigureOut:
    """Mean difficulty per task type and per sample type: bars labelled with their values, each panel's
    axis spanning just its means (``close_range``), thresholds drawn where they fall inside it."""
    t = view.thresholds
    fig = new_figure(10, max(3.0, 0.32 * max(view.by_task.height, view.by_sample.height) + 1.5))
    spans = []
    for i, (frame, key) in enumerate(((view.by_task, "task_type"), (view.by_sample, "sample_type"))):
        ax = fig.add_subplot(1, 2, i + 1)
        rows = frame.filter(frame["mean"].is_not_null())
        if rows.height == 0:
            empty_note(ax, f"no {key} with a score")
            continue
        labels = [f"{name} ({n:,})" for name, n in zip(rows[key], rows["n"], strict=True)]
        means = rows["mean"].to_list()
        container = ax.barh(labels, means, color="#5b7db1")
        ax.bar_label(container, labels=[f"{m:.3f}" for m in means], padding=3, fontsize=8)
        ax.invert_yaxis()
        lo, hi = close_range(means)
        ax.set_xlim(lo, hi)
        spans.append(f"{key} {lo:.3f}-{hi:.3f}")
        for value, colour in ((t.t_simple, CATEGORY_COLOURS["simple"]), (t.t_medium, CATEGORY_COLOURS["hard"])):
            if lo <= value <= hi:
                ax.axvline(value, color=colour, linestyle="--", zorder=0.5)  # behind the bars and labels
        ax.set_title(f"mean {SCORE_COLUMN} by {key}", fontsize=10)
        ax.tick_params(labelsize=8)
    return figure(
        "scores-by-type",
        "Mean difficulty by task type and by sample type",
        f"Samples per type in brackets, the mean at each bar's end. Each axis spans only its means "
        f"({'; '.join(spans) or 'none'}), not 0 to 1, so that close means differ visibly: compare the labels, "
        f"not the bar lengths. Dashed lines: category thresholds (simple <= {t.t_simple:.3f} < medium <= "
        f"{t.t_medium:.3f} < hard) where they fall inside an axis.",
        fig,
    )


def scores_figures(view: ScoresView) -> list[FigureOut]:
    """Histogram with thresholds, factor distributions, mean by type, factor correlation (+ validity)."""
    t = view.thresholds
    out = []

    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    bars(ax, view.score_bins, color="#5b7db1", edgecolor="white")
    _threshold_lines(ax, t.t_simple, t.t_medium, t.simple_percentile, t.medium_percentile)
    ax.set_xlabel(SCORE_COLUMN)
    ax.set_ylabel("samples")
    ax.set_xlim(*view.clip)
    ax.legend(loc="upper left")
    counts = ", ".join(f"{c} {n:,}" for c, n in view.category_counts.items())
    out.append(
        figure(
            "scores-histogram",
            "Difficulty score distribution",
            f"{view.n:,} samples in {len(view.score_bins)} bins over [{view.clip[0]:g}, {view.clip[1]:g}]; "
            f"dashed lines: category thresholds of `pixelis split` (IQR-filtered percentiles). "
            f"Categories: {counts}.",
            fig,
        )
    )

    n = len(view.factors)
    cols = 3
    rows = math.ceil(n / cols)
    fig = new_figure(10, 2.6 * rows)
    medians = dict(zip(view.summary["factor"], view.summary["p50"], strict=True))
    for i, name in enumerate(view.factors):
        ax = fig.add_subplot(rows, cols, i + 1)
        bars(ax, view.factor_bins[name], color="#7a6fb0", edgecolor="white")
        ax.axvline(medians[name], color="black", linewidth=1.2, linestyle=":")
        ax.set_title(f"{name} (w {view.weights[name]:g})", fontsize=10)
        ax.tick_params(labelsize=8)
    out.append(
        figure(
            "scores-factors",
            "Factor distributions",
            "Each factor's values (dotted: median); w is its weight in the composite.",
            fig,
        )
    )

    out.append(by_type_figure(view))

    fig = new_figure(7, 5.5)
    ax = fig.add_subplot()
    names = [*view.factors, SCORE_COLUMN]
    image = heatmap(ax, view.correlation, names, names, ".2f", "RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, shrink=0.8)
    out.append(
        figure(
            "scores-correlation",
            "Factor correlation",
            "Pearson correlation between factors and the composite (n/a: a constant column).",
            fig,
        )
    )
    if view.validity is not None:
        out.append(validity_figure(view.validity))
    return out


def split_figures(view: SplitView) -> list[FigureOut]:
    """Category sizes, diversity per category, eval composition, scores per category."""
    cats = view.categories
    names = [c["category"] for c in cats]
    out = []

    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    train = [c["n_train"] for c in cats]
    held = [c["n_eval"] for c in cats]
    colours = [CATEGORY_COLOURS.get(n, "#888888") for n in names]
    ax.bar(names, train, color=colours, label="train")
    ax.bar(names, held, bottom=train, color=colours, alpha=0.45, hatch="//", label="eval")
    for i, c in enumerate(cats):
        ax.text(
            i,
            c["n"],
            f"{c['n']:,} ({c['share']:.1%})\ntrain {c['n_train']:,} / eval {c['n_eval']:,}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylim(0, max([c["n"] for c in cats] + [1]) * 1.25)
    ax.set_ylabel("samples")
    ax.legend(loc="upper right")
    out.append(
        figure(
            "split-categories",
            "Category sizes",
            f"Samples per category (hatched: held out for eval). Thresholds: simple <= "
            f"{view.thresholds[0]:.4g} (P{view.percentiles[0]:g}) < medium <= {view.thresholds[1]:.4g} "
            f"(P{view.percentiles[1]:g}) < hard.",
            fig,
        )
    )

    task_names, task_counts = type_matrix(cats, "task_types")
    sample_names, sample_counts = type_matrix(cats, "sample_types")
    fig = new_figure(10, max(3.5, 0.35 * max(len(task_names), len(sample_names)) + 1.8))
    for i, (rows, matrix, key) in enumerate(
        ((task_names, task_counts, "task types"), (sample_names, sample_counts, "sample types"))
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        if rows:
            heatmap(ax, matrix, rows, names, ".0f", "Blues")
        else:
            empty_note(ax, "no samples")
        ax.set_title(f"{key} per category ({len(rows)} distinct)", fontsize=10)
    out.append(
        figure(
            "split-diversity",
            "Diversity per category",
            "Samples of each task type and sample type in each category (train + eval).",
            fig,
        )
    )

    ev = view.eval_rows
    fig = new_figure(10, 3.8)
    for i, key in enumerate(("task_type", "sample_type")):
        ax = fig.add_subplot(1, 2, i + 1)
        if ev.height == 0:
            empty_note(ax, "eval.arrow is empty")
            continue
        kinds = sorted(ev[key].unique().to_list())
        counts = ev.group_by("category", key).len()
        lookup = {(c, k): n for c, k, n in counts.iter_rows()}
        left = [0] * len(kinds)
        for cat in CATEGORIES:
            widths = [lookup.get((cat, k), 0) for k in kinds]
            ax.barh(kinds, widths, left=left, color=CATEGORY_COLOURS[cat], label=cat)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.invert_yaxis()
        ax.set_title(f"eval samples by {key}", fontsize=10)
        ax.tick_params(labelsize=8)
        if i == 0:
            ax.legend(loc="lower right", fontsize=8)
    per_cat = ", ".join(f"{c['category']} {c['n_eval']:,}" for c in cats)
    out.append(
        figure(
            "split-eval",
            "What the eval set holds",
            f"{ev.height:,} held-out samples ({per_cat}), by task type and sample type, coloured by category.",
            fig,
        )
    )

    fig = new_figure(9, 3.6)
    ax = fig.add_subplot()
    scores = view.scores
    if scores.height:
        lo, hi = float(scores[SCORE_COLUMN].min()), float(scores[SCORE_COLUMN].max())
        edges = [lo + (hi - lo) * i / 40 for i in range(41)] if hi > lo else 40
        ax.hist(
            [scores.filter(scores["category"] == c)[SCORE_COLUMN].to_list() for c in CATEGORIES],
            bins=edges,
            stacked=True,
            color=[CATEGORY_COLOURS[c] for c in CATEGORIES],
            label=list(CATEGORIES),
        )
    _threshold_lines(ax, *view.thresholds, *view.percentiles)
    ax.set_xlabel(SCORE_COLUMN)
    ax.set_ylabel("samples")
    ax.legend(loc="upper left", fontsize=8)
    out.append(
        figure(
            "split-scores",
            "Scores per category",
            "difficulty_score of every sample (train + eval), stacked by category, with the thresholds "
            "from manifest.json.",
            fig,
        )
    )
    return out
