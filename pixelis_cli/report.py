"""`pixelis report`: one self-contained HTML page (+ PNGs) of a scores file, a split or a training run."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from pixelis_cli.common import console, fail, load_config, set_option
from pixelis_core.text import plural
from pixelis_data.config import DataConfig


def report(
    path: Path = typer.Argument(
        ...,
        metavar="PATH",
        show_default=False,
        help="What to report on, detected from its contents: a scores Parquet (`pixelis score`), a split "
        "directory (`pixelis split`, has manifest.json), a run directory (`pixelis train`, has metrics.jsonl) or an "
        "experiment directory (`pixelis experiment`, has comparison.json).",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        show_default=False,
        help="HTML file to write (figures embedded, no external URLs). Default: beside PATH, as score and split "
        "write, e.g. data.scores.parquet -> data.scores.report.html, runs/demo -> runs/demo.report.html. The same "
        "figures go to OUTPUT_figures/*.png beside it, e.g. report.html -> report_figures/.",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Data config YAML (shape of configs/data.yaml): factor weights, clipping and the split percentiles "
        "used for the thresholds of a scores file. Default: the built-in defaults.",
    ),
    sets: list[str] = set_option("split.medium_percentile=75"),
) -> None:
    """Draw the figures of a scores file, a split directory or a training run into one HTML page.

    Example: pixelis report runs/demo   (writes runs/demo.report.html and runs/demo.report_figures/)

    scores: difficulty histogram with the category thresholds, factor distributions, mean difficulty by type.

    split: category sizes, diversity per category, what the eval set holds, scores per category.

    run: train and eval loss, per-category performance with the min_performance line, timeline, throughput.

    A resumed run's report shows every leg, marked where it resumed, and the whole run's time.

    Needs matplotlib: pip install 'pixelis\\[report]'.
    """
    from pixelis_data.report import ReportDependencyError, ReportInputError, default_report_path
    from pixelis_train.report import build_report

    cfg = load_config(DataConfig, config, sets)
    if output is None:
        output = default_report_path(path)
    if output.is_dir():
        fail(f"--output {output}: is a directory; give a file name such as {output / 'report.html'}")
    started = time.perf_counter()
    try:
        with console.status(f"drawing the report of {path}"):
            result = build_report(path, output, cfg)
    except (ReportInputError, ReportDependencyError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or output}: {err.strerror or err}")
    names = ", ".join(f.stem for f in result.figures)
    fig_dir = result.figures[0].parent if result.figures else None
    console.print(
        f"[green]wrote[/] {result.html} ({result.kind} report, {plural(len(result.figures), 'figure')}: {names})"
        + (f" and the PNGs in {fig_dir}/" if fig_dir else "")
        + f" in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
