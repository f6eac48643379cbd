"""`pixelis calibrate`: Spearman of every factor with a model's per-sample loss, and weights fitted to it."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pixelis_cli.common import console, err_console, fail, load_config, set_option
from pixelis_core.text import plural
from pixelis_data.calibrate import (
    AGREEMENT_MIN,
    Agreement,
    Calibration,
    CalibrationError,
    bootstrap_steps,
    calibrate,
    write_fitted_config,
    write_json,
)
from pixelis_data.config import DataConfig
from pixelis_data.model_scores import ModelScoresError


def default_fitted_path(scores: Path) -> Path:
    """``data/train.scores.parquet`` -> ``data/train.fitted.yaml``."""
    name = scores.name
    for suffix in (".scores.parquet", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return scores.with_name(name + ".fitted.yaml")


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _interval(a: Agreement) -> str:
    return "n/a" if math.isnan(a.low) else f"{a.low:.3f} to {a.high:.3f}"


def _render(result: Calibration, fitted_path: Path | None) -> None:
    fit = result.fit
    console.print(
        f"{plural(result.n_joined, 'sample')} in both files "
        f"({plural(result.n_without_model, 'scored sample')} without a model "
        f"score and {plural(result.n_without_score, 'model-score row')} without a scored sample left out); "
        f"{plural(result.n_boot, 'bootstrap resample')}, seed {result.seed}",
        highlight=False,
    )
    table = Table(title="Spearman rho with model_loss", title_justify="left")
    table.add_column("column", no_wrap=True)
    for name in ("rho", "95% interval", "undefined resamples"):
        table.add_column(name, justify="right", no_wrap=True)
    for a in result.agreement:
        table.add_row(a.column, _num(a.spearman), _interval(a), f"{a.n_undefined:,}")
    console.print(table)
    weights = Table(title="weights of the factors", title_justify="left")
    for name in ("factor", "current", "fitted"):
        weights.add_column(name, justify="left" if name == "factor" else "right", no_wrap=True)
    for name, now in fit.current.items():
        new = None if fit.fitted is None else fit.fitted[name]
        weights.add_row(name, f"{now:g}", "-" if new is None else f"{new:g}")
    console.print(weights)
    held = Table(title=f"held-out half ({plural(fit.n_test, 'sample')}; fitted on {fit.n_fit:,})", title_justify="left")
    for name in ("weights", "Spearman", "95% interval"):
        held.add_column(name, justify="left" if name == "weights" else "right")
    for a in (fit.before, fit.after):
        if a is not None:
            held.add_row(a.column, _num(a.spearman), _interval(a))
    console.print(held)
    colour = "green" if fit.agrees else "yellow"
    console.print(f"[{colour}]{fit.verdict}[/]", highlight=False)
    if fitted_path is not None:
        console.print(f"[green]wrote[/] {fitted_path} (score.weights fitted; everything else as in the config)")
    elif fit.fitted is None:
        console.print("no fitted config written: there are no weights to write", style="yellow")


def calibrate_cmd(
    scores: Path = typer.Argument(
        ..., metavar="SCORES", show_default=False, help="Scores Parquet from `pixelis score`."
    ),
    model_scores: Path = typer.Argument(
        ...,
        metavar="MODEL_SCORES",
        show_default=False,
        help="Model-scores Parquet (sample_id, model_loss), e.g. from `pixelis model-score`.",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Data config YAML to write with the fitted score.weights. Default: SCORES' name with .fitted.yaml.",
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write every number as JSON to this file."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fit/check halves and of the bootstrap resamples."),
    n_boot: int = typer.Option(1000, "--bootstrap", min=1, help="Bootstrap resamples for the 95% intervals."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Data config YAML whose weights are 'current' and which the fitted file copies."
    ),
    sets: list[str] = set_option("score.weights.error_patterns=0.2"),
) -> None:
    """Check the difficulty factors against a model's per-sample loss, and fit weights that agree with it.

    Per factor column and for the composite: Spearman with model_loss and a 95% bootstrap interval.

    Then non-negative weights of the five factors are fitted (NNLS on the loss ranks) on a seeded random half.

    The other half checks them: Spearman before (current weights) and after (fitted); agreement needs >= 0.3.

    Example: pixelis calibrate data.scores.parquet data.model_scores.parquet -o data.fitted.yaml --json c.json

    Then: pixelis score data.jsonl --config data.fitted.yaml
    """
    cfg = load_config(DataConfig, config, sets)
    progress = Progress(
        TextColumn("[bold]bootstrap"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("bootstrap", total=bootstrap_steps(n_boot))
            result = calibrate(
                scores, model_scores, cfg, seed=seed, n_boot=n_boot, progress=lambda k: progress.advance(task, k)
            )
        fitted_path = output if output is not None else default_fitted_path(scores)
        written = write_fitted_config(result, cfg, fitted_path)
        if json_path is not None:
            write_json(result, json_path)
    except (CalibrationError, ModelScoresError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or output}: {err.strerror or err}")
    _render(result, fitted_path if written else None)
    if json_path is not None:
        console.print(f"[green]wrote[/] {json_path}")
    console.print(f"[dim]agreement threshold: held-out Spearman >= {AGREEMENT_MIN}, interval above 0[/]")
