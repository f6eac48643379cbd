"""`pixelis score`: five-factor difficulty scores for every sample (+ model difficulty), with a rich report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from pixelis_cli.common import console, err_console, fail, load_config, set_option
from pixelis_cli.score_report import render_score_report
from pixelis_data.config import DataConfig
from pixelis_data.custom_factors import FactorModuleError
from pixelis_data.model_scores import ModelScoresError
from pixelis_data.readers import ADAPTERS, InputError
from pixelis_data.readers.files import expand_inputs
from pixelis_data.score import default_output_for, own_outputs, score_to_parquet

PROGRESS_MIN_BYTES = 20 * 1024 * 1024  # below this a run takes about a second: no bar


def _parse_weights(items: list[str]) -> dict[str, float]:
    weights = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=WEIGHT, got {item!r}", param_hint="--factor-weight")
    return weights


def score(
    inputs: list[str] = typer.Argument(
        ...,
        metavar="INPUTS",
        help="Input file(s): JSON, JSONL or Parquet; a directory or a glob of them.",
        show_default=False,
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Scores Parquet to write. Default for a single input file: INPUT.scores.parquet beside it.",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML with the shape of configs/data.yaml (read/score sections)."
    ),
    sets: list[str] = set_option("score.clip_min=0.2"),
    factor_module: str | None = typer.Option(
        None, "--factor-module", help="Module (dotted name or .py file) of extra factors: functions returning pl.Expr."
    ),
    factor_weight: list[str] = typer.Option(
        [], "--factor-weight", help="Weight of a custom factor, NAME=W (repeatable); adds to score.custom.weights."
    ),
    model_scores: Path | None = typer.Option(
        None,
        "--model-scores",
        help="Parquet of per-sample model losses (sample_id, model_loss; e.g. from `pixelis model-score`): adds "
        "the factor model_difficulty (percentile rank of model_loss) with weight score.model_scores.weight (0.5).",
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help=f"Force the record format instead of detecting it per file: {', '.join(ADAPTERS)}."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Exit 1 and write no scores if a record is rejected or (with --model-scores) a sample has no model score.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print the one-line summary."),
) -> None:
    """Score every sample's difficulty (five factors and their weighted composite) into a Parquet file.

    Bad records are quarantined in OUTPUT's .rejects.jsonl with their file, line/index, reason and raw text;
    the run goes on, and input = scored + rejected always.

    Example: pixelis score data.jsonl --model-scores data.model_scores.parquet

    (-> data.scores.parquet with model_difficulty; samples missing from the model scores are counted)
    """
    # each --factor-weight is one entry of the table: it adds to (or replaces) the config's weights
    flags: dict[str, object] = {
        "score.custom.module": factor_module,
        "score.model_scores.path": None if model_scores is None else str(model_scores),
    }
    flag_names = {"score.custom.module": "--factor-module", "score.model_scores.path": "--model-scores"}
    for name, weight in _parse_weights(factor_weight).items():
        flags[f"score.custom.weights.{name}"] = weight
        flag_names[f"score.custom.weights.{name}"] = f"--factor-weight {name}"
    cfg = load_config(DataConfig, config, sets, flags, flag_names=flag_names)
    if fmt is not None and fmt not in ADAPTERS:
        raise typer.BadParameter(f"unknown format {fmt!r} (known: {', '.join(ADAPTERS)})", param_hint="--format")
    try:
        files = expand_inputs(inputs)
    except InputError as err:
        fail(str(err))
    if output is None:
        if len(inputs) != 1 or len(files) != 1 or not Path(inputs[0]).is_file():
            fail("--output is required when the input is several files, a directory or a glob")
        output = default_output_for(files[0])
    files, excluded = own_outputs(files, output)
    for path in excluded:
        note = f"[yellow]note:[/] not reading {path}: it is this run's own output (-o {output})"
        err_console.print(note, highlight=False, soft_wrap=True)
    if not files:
        fail(f"{', '.join(map(str, excluded))}: this run's own output (-o {output}); write the scores elsewhere")
    total = sum(f.stat().st_size for f in files)
    progress = Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet or total < PROGRESS_MIN_BYTES,
    )
    try:
        with progress:
            task = progress.add_task("score", total=total)
            result = score_to_parquet(
                files,
                output,
                cfg,
                fmt=fmt,
                strict=strict,
                progress=lambda n: progress.advance(task, n),
                keep_report=not quiet,  # --quiet prints no report: nothing to keep per sample
            )
    except (InputError, FactorModuleError, ModelScoresError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or output}: {err.strerror}")
    render_score_report(result, cfg.score, console, quiet=quiet)
    if strict and result.strict_failures:
        err_console.print(f"[bold red]strict:[/] {'; '.join(result.strict_failures)}; no scores written")
        raise typer.Exit(1)
