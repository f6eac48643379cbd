"""``pixelis experiment``: an A/B harness for the curriculum; arms x seeds of ``pixelis train``, compared honestly."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pixelis_cli.common import console, fail, set_option
from pixelis_cli.train import resolve_config
from pixelis_core.config_io import ConfigError
from pixelis_core.text import plural
from pixelis_train.curriculum.config import POLICIES
from pixelis_train.experiment.arms import ERROR_FILE, ExperimentPlan, parse_arms
from pixelis_train.experiment.comparison import compare, write_comparison
from pixelis_train.experiment.results import read_run
from pixelis_train.experiment.runner import RunnerStatus, run_experiment
from pixelis_train.experiment.table import comparison_table

EXIT_FAILED_RUNS = 1
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def _validate(
    split_dir: Path, model: str, arms: tuple[str, ...], config: Path | None, sets: list[str], steps: int | None
) -> None:
    """Every arm's TrainConfig resolves (the same way `pixelis train` will), before any run starts."""
    for arm in arms:
        try:
            resolve_config(config, {"model.name": model, "optim.steps": steps, "curriculum.policy": arm}, sets)
        except ConfigError as err:
            fail(f"invalid config for arm {arm!r}: {err}")
    if not split_dir.is_dir():
        fail(f"{split_dir}: split directory does not exist (run `pixelis split` first)")


def _status_text(status: RunnerStatus) -> str:
    running = ", ".join(s.name for s in status.running) or "-"
    text = (
        f"running: {running}   failed: {status.count('failed')}   skipped (finished before): {status.count('skipped')}"
    )
    return escape(text + (f"   stopping ({status.stopping})" if status.stopping else ""))


def _render(comparison: dict) -> None:
    columns, rows = comparison_table(comparison)
    table = Table(title="experiment: final held-out metrics (overall), mean [95% CI] over seeds", title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("arm",) else "right")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    console.print(comparison["verdict"], highlight=False, markup=False)


def experiment(
    split_dir: Path = typer.Argument(
        ..., metavar="SPLIT_DIR", help="A `pixelis split` directory; every run trains and evaluates on it."
    ),
    model: str = typer.Option(..., "--model", help="tiny-vl | tiny-text | a local model directory | a hub id."),
    arms: str = typer.Option(
        "none,adaptive",
        "--arms",
        help=f"Comma-separated curriculum policies to compare (of {', '.join(POLICIES)}); 'none' is the reference.",
    ),
    seeds: int = typer.Option(
        3, "--seeds", min=1, help="Seeds per arm: 0..K-1, the same for every arm (runs pair by seed)."
    ),
    out: Path = typer.Option(..., "--out", help="Experiment directory: runs/ARM-seedS/ and comparison.json."),
    config: Path | None = typer.Option(
        None, "--config", help="TrainConfig YAML shared by every run (configs/train.yaml)."
    ),
    sets: list[str] = set_option("optim.lr=0.001"),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Optimizer steps of every run (the budget)."),
    parallel: int = typer.Option(
        1, "--parallel", min=1, help="Runs at a time; each child gets OMP_NUM_THREADS = cores // P unless it is set."
    ),
) -> None:
    """Compare curriculum policies honestly: every arm x seed is a `pixelis train` run on the same split, model,
    config, budget and eval set; then means, 95% t intervals over seeds, paired differences against 'none'
    (plain training) and a verdict. Baselines: none (a static mixture proportional to the category sizes),
    fixed (planned stages), shuffled (fixed on randomly permuted labels), anti (stages reversed: hard first).

    Rerun the same command to resume a stopped experiment: finished runs are skipped, interrupted ones continue
    from their last checkpoint (`--resume auto`). A failed run leaves runs/ARM-seedS/error.txt and the others go
    on; the exit code is 1 if any failed. `pixelis report OUT` draws the comparison as an HTML page.

    Example: pixelis experiment data/split --model tiny-text --arms none,fixed,adaptive --seeds 3 --steps 300
    --config configs/demo_train.yaml --parallel 2 --out runs/ab
    """
    try:
        plan = ExperimentPlan(split_dir, model, parse_arms(arms), seeds, out, config, tuple(sets), steps, parallel)
    except ValueError as err:
        fail(str(err))
    _validate(split_dir, model, plan.arms, config, sets, steps)
    specs = plan.runs()
    header = f"{split_dir} -> {out}: arms {', '.join(plan.arms)} x seeds 0..{seeds - 1} = {plural(len(specs), 'run')}"
    console.print(f"[bold]pixelis experiment[/] {escape(header)}, {parallel} at a time", highlight=False)
    progress = Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    with progress:
        task = progress.add_task("runs", total=len(specs), info="")
        reported: set[str] = set()

        def on_change(status: RunnerStatus) -> None:
            progress.update(task, completed=len(status.outcomes), info=_status_text(status))
            for outcome in status.outcomes:
                if outcome.status == "failed" and outcome.spec.name not in reported:
                    reported.add(outcome.spec.name)
                    progress.console.print(
                        f"[bold red]failed:[/] {escape(outcome.spec.name)}: {escape(outcome.error or '')} "
                        f"(see {escape(str(outcome.spec.run_dir / ERROR_FILE))})",
                        highlight=False,
                    )

        outcomes, status = run_experiment(plan, on_change)
    comparison = compare(plan, [read_run(s) for s in specs])
    path = write_comparison(out, comparison)
    _render(comparison)
    done = {k: sum(o.status == k for o in outcomes) for k in ("completed", "skipped", "failed", "interrupted")}
    console.print(
        f"runs: {done['completed']} completed, {done['skipped']} already finished, {done['failed']} failed, "
        f"{done['interrupted']} interrupted; wrote {path} (pixelis report {out} draws it)",
        highlight=False,
        markup=False,
    )
    if status.stopping is not None:
        raise typer.Exit(EXIT_SIGNAL.get(status.stopping, 1))
    if done["failed"]:
        raise typer.Exit(EXIT_FAILED_RUNS)
