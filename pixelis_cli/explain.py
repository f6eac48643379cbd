"""`pixelis explain`: why one sample got its difficulty score (trajectory tree, factor contributions)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from pixelis_cli.common import console, err_console, fail, load_config, set_option
from pixelis_core.text import plural
from pixelis_data.config import DataConfig
from pixelis_data.report.explain import Explanation, explain_sample
from pixelis_data.report.inputs import ReportInputError

TOLERANCE = 1e-9
BAR = 12


def shorten(text: str, limit: int) -> str:
    """One line (whitespace collapsed), cut to ``limit`` characters with a note of how much was left out."""
    flat = re.sub(r"\s+", " ", text).strip()
    if limit <= 0 or len(flat) <= limit:
        return flat
    return f"{flat[:limit].rstrip()}… (+{len(flat) - limit} chars)"


def trajectory_tree(ex: Explanation, limit: int) -> Tree:
    """The trajectory as a rich tree: one node per step, its thought / parameters / result below."""
    tree = Tree(f"[bold]trajectory[/] ({plural(len(ex.steps), 'step')})")
    for s in ex.steps:
        marks = []
        if not s.known:
            marks.append("[magenta]unknown op[/]")
        if s.phrases:
            marks.append("[yellow]phrase: " + ", ".join(f'"{escape(p)}"' for p in s.phrases) + "[/]")
        if s.repetition:
            marks.append("[red]repetition[/]")
        if s.repeated_coordinates is not None:
            marks.append(f"[red]backtracking: coordinates {escape(shorten(s.repeated_coordinates, 40))} again[/]")
        node = tree.add(f"[bold cyan]{s.index}. {escape(s.action)}[/]" + ("  " + "  ".join(marks) if marks else ""))
        for label, value in (("thought", s.thought), ("parameters", s.parameters), ("result", s.result)):
            if value.strip():
                node.add(f"[dim]{label}:[/] {escape(shorten(value, limit))}")
    return tree


def factor_table(ex: Explanation) -> Table:
    """value x weight = contribution per factor, the sum, the clipping and the stored score."""
    table = Table(title="composite difficulty = sum of weight x factor, clipped", title_justify="left")
    table.add_column("factor", no_wrap=True)
    for name in ("value", "weight", "contribution"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", overflow="crop", no_wrap=True)
    peak = max((abs(f.contribution) for f in ex.factors), default=0.0) or 1.0
    for f in ex.factors:
        table.add_row(
            f.name,
            f"{f.value:.4f}",
            f"{f.weight:g}",
            f"{f.contribution:.4f}",
            "█" * round(BAR * abs(f.contribution) / peak),
        )
    table.add_section()
    table.add_row("sum before clipping", "", "", f"{ex.raw_composite:.4f}", "")
    lo, hi = ex.clip
    table.add_row(
        f"clipped to [{lo:g}, {hi:g}]",
        "",
        "",
        f"{ex.composite:.4f}",
        "[yellow]clipped[/]" if ex.clipped else "[dim]unchanged[/]",
    )
    table.add_row("[bold]difficulty_score[/] (stored)", "", "", f"[bold]{ex.stored_score:.4f}[/]", "")
    return table


def diagnostics_table(ex: Explanation) -> Table:
    """The stored diagnostics with the steps that caused them."""
    table = Table(title="diagnostics", title_justify="left")
    table.add_column("diagnostic")
    table.add_column("value", justify="right")
    table.add_column("where")
    reps = [str(s.index) for s in ex.steps if s.repetition]
    back = [f"{s.index} ({shorten(s.repeated_coordinates, 30)})" for s in ex.steps if s.repeated_coordinates]
    phrases = [f'"{p}" in step {s.index}' for s in ex.steps for p in s.phrases]
    unknown = [f"{s.index} {s.action}" for s in ex.steps if not s.known]
    where = {
        "n_repetitions": "steps " + ", ".join(reps) if reps else "",
        "has_backtracking": "steps " + ", ".join(back) if back else "",
        "has_self_correction": "; ".join(phrases)
        if phrases
        else ("sample_type self_correction" if ex.diagnostics.get("has_self_correction") else "no phrase found"),
        "n_unknown_ops": ", ".join(unknown),
    }
    for name, value in ex.diagnostics.items():
        table.add_row(name, str(value), escape(where.get(name, "")))
    return table


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _check_parquet(scores: Path) -> None:
    """A one-line error when SCORES is not a Parquet file at all (a JSONL input, a CSV, a truncated file)."""
    try:
        pl.read_parquet_schema(scores)
    except (pl.exceptions.PolarsError, OSError) as err:
        fail(
            f"{scores}: not a scores file (not a readable Parquet file: {_first_line(err)}); "
            "pass the .scores.parquet that `pixelis score` wrote"
        )


def explain(
    scores: Path = typer.Argument(
        ..., metavar="SCORES", show_default=False, help="A scores Parquet written by `pixelis score`."
    ),
    sample_id: str = typer.Argument(..., metavar="SAMPLE_ID", show_default=False, help="The sample_id to explain."),
    split: Path | None = typer.Option(
        None,
        "--split",
        help="A split directory: take the category (and thresholds) from it instead of "
        "recomputing the thresholds on SCORES.",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Data config YAML the scores were computed with (weights, clipping, phrases, "
        "split percentiles). Default: the built-in defaults.",
    ),
    sets: list[str] = set_option("split.simple_percentile=25"),
    max_chars: int = typer.Option(
        160,
        "--max-chars",
        min=0,
        help="Shorten each thought / parameters / result to this many characters (0: show them whole).",
    ),
) -> None:
    """Why one sample got its difficulty score: trajectory tree, factor contributions, diagnostics, category.

    Example: pixelis explain data/scores.parquet sample-000042 --split data/split

    Each factor's value, weight and contribution (they add up to the composite before clipping); which step
    repeated an action, revisited coordinates or used a self-correction phrase; the sample's category and the
    percentile of its score among all scores.
    """
    cfg = load_config(DataConfig, config, sets)
    if not scores.is_file():
        fail(f"{scores}: no such file")
    if split is not None and not split.is_dir():
        fail(f"--split {split}: not a directory")
    _check_parquet(scores)
    try:
        ex = explain_sample(scores, sample_id, cfg, split)
    except ReportInputError as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or scores}: {err.strerror or err}")
    except pl.exceptions.PolarsError as err:  # a damaged Parquet file that still has a footer
        fail(f"{scores}: cannot read the scores ({_first_line(err)})")
    r = ex.record
    console.print(
        f"[bold]{escape(sample_id)}[/]  task [cyan]{escape(str(r['task_type']))}[/]  sample type "
        f"[cyan]{escape(str(r['sample_type']))}[/]  sampling weight {r['sampling_weight']:g}"
    )
    console.print(f"[dim]question:[/] {escape(shorten(r['question'] or '', max_chars * 2))}")
    console.print(
        f"[dim]answer:[/] {escape(shorten(r['answer'] or '', max_chars))}   [dim]ground truth:[/] "
        f"{escape(shorten(r['ground_truth'] or '-', max_chars))}"
    )
    console.print(trajectory_tree(ex, max_chars))
    console.print(factor_table(ex))
    if abs(ex.composite - ex.stored_score) > TOLERANCE:
        err_console.print(
            f"[yellow]warning:[/] the weights of this config give {ex.composite:.6f}, the file says "
            f"{ex.stored_score:.6f}: pass the --config the file was scored with",
            highlight=False,
        )
    console.print(diagnostics_table(ex))
    t_simple, t_medium = ex.thresholds
    where = f" (in {ex.split_file})" if ex.split_file else ""
    console.print(
        f"category [bold]{ex.category}[/]{where}: simple <= {t_simple:.4f} < medium <= {t_medium:.4f} < hard "
        f"({ex.category_source}); percentile [bold]{ex.percentile:.1f}[/] (score rank {ex.rank:,} of "
        f"{ex.n_scores:,}, ties counted at their highest rank)",
        highlight=False,
    )
