"""The rich terminal report of `pixelis score`, from the rows the run wrote (never re-read from the output path)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pixelis_core.text import plural, plural_word
from pixelis_data.config import ScoreConfig
from pixelis_data.model_scores import ModelScoreStats
from pixelis_data.schema import SCORE_COLUMN
from pixelis_data.score import ScoreResult, factor_columns
from pixelis_data.summary import factor_summary, histogram, mean_by

BAR_WIDTH = 40


def render_model_match(m: ModelScoreStats, n_scored: int, console: Console) -> None:
    """How the scored samples matched the model-scores file: matched, missing (with examples), unused rows."""
    console.print(
        f"model scores: {m.path}: [green]{m.n_matched:,} matched[/], "
        f"[{'yellow' if m.n_missing else 'dim'}]{m.n_missing:,} missing[/] of {plural(n_scored, 'scored sample')}; "
        f"{m.n_unused:,} of the file's {plural(m.n_file, 'row')} match no scored sample",
        highlight=False,
    )
    if m.n_missing:
        examples = ", ".join(repr(i) for i in m.missing_examples)
        console.print(
            f"[yellow]warning:[/] {plural(m.n_missing, 'sample')} {plural_word(m.n_missing, 'has')} no model score "
            f"(e.g. {examples}): their "
            "model_difficulty is null and their difficulty_score the heuristic part alone, rescaled "
            "(--strict fails instead)",
            highlight=False,
        )
    if m.n_unused:
        console.print(
            f"[yellow]note:[/] model_difficulty ranks count all {plural(m.n_file, 'row')} of the model-scores file, "
            f"{m.n_unused:,} of which are not among the scored samples",
            highlight=False,
        )


def render_score_report(result: ScoreResult, cfg: ScoreConfig, console: Console, quiet: bool = False) -> None:
    """Counts, per-factor statistics, histogram, per-type means and unknown operations."""
    where = str(result.output) if result.output else "(not written)"
    line = (
        f"[bold]{result.n_input:,}[/] input = [green]{result.n_scored:,} scored[/] + "
        f"[{'red' if result.n_rejected else 'dim'}]{result.n_rejected:,} rejected[/] "
        f"in {result.seconds:.1f}s -> {where}"
    )
    console.print(line, highlight=False)
    if result.rejects_path:
        console.print(f"rejects: {result.rejects_path}", highlight=False)
    if result.model is not None:
        render_model_match(result.model, result.n_scored, console)
    if quiet or result.output is None or result.n_scored == 0 or result.report is None:
        return
    # the frame this run wrote: a concurrent run to the same -o may be replacing the file right now
    scores = result.report.lazy()
    names = scores.collect_schema().names()
    factors = [c for c in factor_columns(cfg) if c in names]
    table = Table(title="factors", title_justify="left")
    for name in ("factor", "mean", "p10", "p50", "p90"):
        table.add_column(name, justify="left" if name == "factor" else "right")
    for row in factor_summary(scores, [*factors, SCORE_COLUMN]).iter_rows():
        table.add_row(row[0], *(f"{v:.3f}" for v in row[1:]))
    console.print(table)

    hist = Table(title="difficulty_score", title_justify="left", show_header=False, box=None)
    bins = histogram(scores, cfg.clip_min, cfg.clip_max)
    peak = max(c for _, _, c in bins) or 1
    for lo, hi, count in bins:
        hist.add_row(f"{lo:.2f}-{hi:.2f}", "█" * round(BAR_WIDTH * count / peak), f"{count:,}")
    console.print(hist)

    for key in ("task_type", "sample_type"):
        by = mean_by(scores, key)
        t = Table(title=f"mean difficulty by {key}", title_justify="left")
        t.add_column(key)
        t.add_column("samples", justify="right")
        t.add_column("mean", justify="right")
        for name, n, mean in by.iter_rows():
            t.add_row(str(name), f"{n:,}", f"{mean:.3f}")
        console.print(t)

    if result.unknown_ops:
        t = Table(title="unknown operations (not in the complexity table)", title_justify="left")
        t.add_column("action")
        t.add_column("steps", justify="right")
        for name, n in result.unknown_ops.most_common(20):
            t.add_row(name, f"{n:,}")
        if len(result.unknown_ops) > 20:
            t.add_row(f"... {len(result.unknown_ops) - 20} more", "")
        console.print(t)
    else:
        console.print("unknown operations: none", style="dim")
    if result.reject_reasons:
        t = Table(title="rejects by reason", title_justify="left")
        t.add_column("reason")
        t.add_column("records", justify="right")
        for reason, n in result.reject_reasons.most_common():
            t.add_row(reason, f"{n:,}")
        console.print(t)
