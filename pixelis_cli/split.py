"""``pixelis split``: percentile categories + held-out eval set as memory-mappable Arrow files."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pixelis_cli.common import console, err_console, fail, load_config, set_option
from pixelis_core.config_io import apply_overrides
from pixelis_core.lock import LockBusyError, dir_lock
from pixelis_core.text import plural
from pixelis_data.config import DataConfig
from pixelis_data.split import SplitError, SplitResult, split_to_dir
from pixelis_data.split.run import input_kind


def _warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


_SUFFIXES = (".scores.parquet", ".parquet", ".jsonl", ".ndjson", ".json")


def default_output_dir(input_path: Path) -> Path:
    """``data/train.scores.parquet`` (or ``train.json``, or a directory ``train``) -> ``data/train.split``."""
    name = input_path.name or input_path.resolve().name  # "." has no name of its own
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return (
        input_path.resolve().with_name(name + ".split")
        if not input_path.name
        else input_path.with_name(name + ".split")
    )


_FLAG_NAMES = {
    "split.eval_fraction": "--eval-fraction",
    "split.eval_per_category": "--eval-per-category",
    "score.model_scores.path": "--model-scores",
}


def _config(
    path: Path | None,
    sets: list[str],
    eval_fraction: float | None,
    eval_per_category: int | None,
    model_scores: Path | None,
) -> DataConfig:
    if eval_fraction is not None and eval_per_category is not None:
        fail("--eval-fraction and --eval-per-category exclude each other; pass one")
    flags = {
        "split.eval_fraction": eval_fraction,
        "split.eval_per_category": eval_per_category,
        "score.model_scores.path": None if model_scores is None else str(model_scores),
    }
    config = load_config(DataConfig, path, sets, flags, flag_names=_FLAG_NAMES)
    if eval_fraction is not None:
        # --eval-fraction chooses the fraction mode: a per-category count from the file or --set goes
        # (null is always valid, and the rest was checked just above)
        config = apply_overrides(config, {"split.eval_per_category": None}, keep_none=True)
    return config


def _fmt_share(x: float) -> str:
    return f"{x:.1%}"


def _top(counts: dict[str, int], k: int = 3) -> str:
    shown = ", ".join(f"{name} {n:,}" for name, n in list(counts.items())[:k])
    return shown + (f" +{len(counts) - k} more" if len(counts) > k else "")


def _render(result: SplitResult) -> None:
    report, t = result.plan.report, result.plan.thresholds
    table = Table(
        title=f"Split of {plural(report.n, 'sample')} ({report.n_train:,} train, {report.n_eval:,} eval)",
        caption="held out: eval share of the category; types: task types / sample types",
    )
    for name in ("category", "samples", "share", "train", "eval", "held out", "scores", "types"):
        table.add_column(name, justify="left" if name in ("category", "scores") else "right")
    for c in report.categories:
        scores = f"{c.score_min:.3f}-{c.score_max:.3f}" if c.n else "-"
        held_out = _fmt_share(c.n_eval / c.n) if c.n else "-"
        table.add_row(
            c.category,
            f"{c.n:,}",
            _fmt_share(c.share),
            f"{c.n_train:,}",
            f"{c.n_eval:,}",
            held_out,
            scores,
            f"{len(c.task_types)}/{len(c.sample_types)}",
        )
    console.print(table)
    console.print(
        f"thresholds: simple <= [bold]{t.t_simple:.6g}[/] (P{t.simple_percentile:g}) < medium <= "
        f"[bold]{t.t_medium:.6g}[/] (P{t.medium_percentile:g}) < hard"
    )
    console.print(
        f"IQR filter: q1 {t.q1:.6g}, q3 {t.q3:.6g}, kept [{t.lower:.6g}, {t.upper:.6g}] -> "
        f"{t.n_kept:,} of {plural(t.n_scores, 'score')} ({plural(t.n_outliers, 'outlier')}: {t.n_outliers_low:,} low, "
        f"{t.n_outliers_high:,} high; outliers are still categorised)"
        + (" [yellow]nothing inside the bounds: all scores used[/]" if t.used_all else "")
    )
    ties = report.ties
    rule = "inclusive rule: lower category" if ties.rule == "inclusive" else "split.ties spread: by stable hash"
    console.print(
        f"ties: {ties.at_simple:,} on t_simple, {ties.at_medium:,} on t_medium ({rule}; "
        "a strict rule would give " + ", ".join(f"{k} {v:,}" for k, v in ties.strict_counts.items()) + ")"
    )
    for c in report.categories:
        if c.n:
            console.print(
                f"  {c.category}: task types {_top(c.task_types)}; sample types {_top(c.sample_types)}", highlight=False
            )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if result.n_rejected:
        err_console.print(
            f"[yellow]warning:[/] {plural(result.n_rejected, 'record')} rejected while scoring; see "
            f"{result.out_dir / 'rejects.jsonl'}"
        )
    files = ", ".join(f"{name}.arrow ({rows:,})" for name, rows in result.rows.items())
    console.print(f"[green]wrote[/] {result.out_dir}: {files}, manifest.json in {result.seconds:.1f} s")


def split(
    input_path: Path = typer.Argument(
        ...,
        metavar="INPUT",
        help="A scores Parquet from `pixelis score`, or raw data (JSON, JSONL, Parquet file or a directory), "
        "which is then scored on the way with the same config.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Output directory. Default: beside INPUT, e.g. data.scores.parquet -> data.split/."
    ),
    by_category: bool = typer.Option(
        True,
        "--by-category",
        show_default=False,
        help="Split into simple / medium / hard by difficulty percentiles: the default (and only) strategy; "
        "the flag is accepted so that scripts can say which strategy they mean.",
    ),
    eval_fraction: float | None = typer.Option(
        None,
        "--eval-fraction",
        help="Share of samples held out for eval, chosen by a stable hash of sample_id (default from config: 0.05).",
    ),
    eval_per_category: int | None = typer.Option(
        None,
        "--eval-per-category",
        help="Hold out exactly N samples per category (smallest hashes) instead of a fraction.",
    ),
    config_path: Path | None = typer.Option(
        None, "--config", help="Data config YAML (sections read / score / split), the same file `pixelis score` reads."
    ),
    model_scores: Path | None = typer.Option(
        None,
        "--model-scores",
        help="Raw INPUT only: per-sample model losses (Parquet with sample_id, model_loss) scored in as the "
        "factor model_difficulty, as with `pixelis score --model-scores`.",
    ),
    sets: list[str] = set_option("split.iqr_multiplier=.inf"),
    fmt: str | None = typer.Option(None, "--format", help="Record format of raw INPUT (default: auto-detected)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Write into a non-empty directory that holds no pixelis manifest."
    ),
) -> None:
    """Cut scored samples into simple / medium / hard Arrow files plus a stable, stratified eval.arrow.

    Example: pixelis split data.jsonl --by-category --model-scores data.model_scores.parquet -o data.split

    (scores on the way, with model difficulty; --set split.ties=spread splits tied scores by stable hash)
    """
    config = _config(config_path, sets, eval_fraction, eval_per_category, model_scores)
    out_dir = output if output is not None else default_output_dir(input_path)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        write_task = progress.add_task("splitting", total=None)
        score_task = None

        def on_rows(done: int, total: int) -> None:
            progress.update(write_task, completed=done, total=total)

        def on_score(n_bytes: int) -> None:
            nonlocal score_task
            if score_task is None:
                score_task = progress.add_task("scoring (bytes)", total=None)
            progress.advance(score_task, n_bytes)

        try:
            if input_path.exists() and input_kind(input_path) == "raw":
                console.print(f"{input_path}: not a scores file, scoring it on the way")
            # one writer per split directory while it is written (a file there: split_to_dir says so)
            with nullcontext() if out_dir.is_file() else dir_lock(out_dir, warn=_warn, remove_empty_dir=True):
                result = split_to_dir(
                    input_path,
                    out_dir,
                    config,
                    overwrite=overwrite,
                    fmt=fmt,
                    on_rows=on_rows,
                    on_score_progress=on_score,
                )
        except LockBusyError as err:
            progress.stop()
            fail(str(err))
        except SplitError as err:
            progress.stop()
            fail(str(err))
        except OSError as err:  # permissions, a full disk: name the path, no traceback
            progress.stop()
            fail(f"{err.filename or out_dir}: {err.strerror or err}")
    _render(result)
