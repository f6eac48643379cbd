"""``pixelis generate``: synthetic CoTA samples (and optional PNG images) for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pixelis_cli.common import console, fail
from pixelis_core.text import plural
from pixelis_data.generate import TASKS, output_format, write_samples


def _check_n(value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"must be at least 1, got {value}")
    return value


def _check_seed(value: int) -> int:
    if value < 0:
        raise typer.BadParameter(f"must be an integer >= 0, got {value}")
    return value


def _check_output(value: Path) -> Path:
    try:
        output_format(value)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    return value


def generate(
    n: int = typer.Argument(
        ..., metavar="N", callback=_check_n, help="Number of samples to generate (at least 1).", show_default=False
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        callback=_check_output,
        help='Output file. [bold].jsonl[/]: one sample per line; [bold].json[/]: {"samples": [...]}. '
        "Written atomically (a temp file renamed into place).",
        show_default=False,
    ),
    seed: int = typer.Option(
        0, "--seed", callback=_check_seed, help="Random seed (>= 0). The same seed always gives byte-identical files."
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Also draw one small PNG per sample into this directory (img_0000001.png, ...); the samples' "
        "image_path is relative to it (train with --image-root DIR). Needs Pillow: pip install 'pixelis\\[train]'.",
        file_okay=False,
        show_default=False,
    ),
    workers: int = typer.Option(
        0,
        "--workers",
        "-j",
        min=0,
        help="Worker processes (>= 0). 0 = automatic (parallel only from 100,000 samples). Never changes the output.",
    ),
    task: str = typer.Option(
        "mixed",
        "--task",
        metavar="|".join(TASKS),
        help="[bold]mixed[/]: every task type and sample type. [bold]counting[/]: the controlled task, answers "
        "computed from 1 / 2-3 / 4-6 observed counts (simple / medium / hard); see docs/generate.md.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on long runs."),
) -> None:
    """Generate N synthetic CoTA samples in the pixelis input format.

    Example: pixelis generate 600 -o data/samples.jsonl --seed 0 --images data/images

    Covers every task type and sample type (positives, wrong outcomes, perceptual and logical traps, self-corrections), with trajectories of 2 to 15+ steps whose bboxes and points lie inside the image.

    With --task counting: the controlled task, where the answer is computed from the observations and the category is the number of observations composed (1 / 2-3 / 4-6), e.g. pixelis generate 1500 -o data/count.jsonl --task counting
    """  # noqa: E501 (one line per paragraph: the help renderer keeps line breaks)
    if task not in TASKS:
        fail(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    try:
        result = write_samples(output, n, seed=seed, images_dir=images, progress=progress, workers=workers, task=task)
    except (ImportError, ValueError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot write {err.filename or output}: {err.strerror or err}")

    what = f"seed {seed}" if task == "mixed" else f"seed {seed}, task {task}"
    table = Table(title=f"generated {plural(result.count, 'sample')} ({what})", title_justify="left")
    table.add_column("task type")
    table.add_column("samples", justify="right")
    table.add_column("sample type")
    table.add_column("samples", justify="right")
    tasks, types = list(result.task_counts.items()), list(result.sample_type_counts.items())
    if task != "mixed":  # a single-family task: only the types it makes
        tasks, types = [t for t in tasks if t[1]], [t for t in types if t[1]]
    for i in range(max(len(tasks), len(types))):
        t, s = tasks[i] if i < len(tasks) else ("", ""), types[i] if i < len(types) else ("", "")
        table.add_row(t[0], f"{t[1]:,}" if t[1] != "" else "", s[0], f"{s[1]:,}" if s[1] != "" else "")
    console.print(table)
    rate = result.count / result.seconds if result.seconds > 0 else float("inf")
    console.print(
        f"samples: [bold]{escape(str(result.path))}[/] ({result.seconds:.1f} s, {rate:,.0f} samples/s)",
        highlight=False,
        soft_wrap=True,
    )
    if result.images_dir is not None:
        console.print(
            f"images:  [bold]{escape(str(result.images_dir))}[/] ({plural(result.images_written, 'PNG file')})",
            highlight=False,
            soft_wrap=True,
        )
