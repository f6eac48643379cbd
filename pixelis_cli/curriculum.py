"""``pixelis curriculum simulate``: dry-run the curriculum policy on a trace or a synthetic learner."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pixelis_cli.common import console, fail, load_config, set_option
from pixelis_core.config_io import ConfigError
from pixelis_core.text import plural
from pixelis_core.write_errors import WriteError, check_writable
from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum.config import POLICIES, CurriculumConfig
from pixelis_train.curriculum.events import event_label, is_rejected_advance
from pixelis_train.curriculum.simulate import (
    SimulationResult,
    simulate_model,
    simulate_trace,
    write_jsonl,
)
from pixelis_train.curriculum.synthetic import parse_model
from pixelis_train.curriculum.trace import TraceError, read_trace

app = typer.Typer(
    help="Curriculum policy tools: tune thresholds on a performance trace before spending GPU hours.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

_STYLE = {"advance": "green", "forced_advance": "yellow", "rollback": "bold red", "hold": "dim"}
REJECTED_STYLE = "red"


def _weights(weights: dict[str, float]) -> str:
    return "/".join(f"{weights.get(c, 0.0):.2g}" for c in CATEGORIES)


def _render(result: SimulationResult, holds: bool) -> None:
    console.print(
        f"[bold]policy[/] {result.policy}   [bold]source[/] {result.source}   "
        f"[bold]evaluations[/] {len(result.evaluations)}",
        highlight=False,
        soft_wrap=True,
    )
    timeline = Table(title="Timeline", caption="weights decided at step t apply from t+1; scale = interval scale")
    timeline.add_column("steps", justify="right", no_wrap=True)
    timeline.add_column("stage", no_wrap=True)
    timeline.add_column("weights " + "/".join(c[0] for c in CATEGORIES), no_wrap=True)
    timeline.add_column("scale", justify="right", no_wrap=True)
    timeline.add_column("cooldown", no_wrap=True)
    cooldowns = {c.start: c.end for c in result.cooldowns}
    for seg in result.segments:
        cooldown = f"{seg.start}-{cooldowns[seg.start]}" if seg.start in cooldowns else ""
        timeline.add_row(
            f"{seg.start}-{seg.end}",
            f"{seg.stage}: {seg.stage_name}",
            _weights(result.stage_weights[seg.stage]),
            f"x{seg.interval_scale:g}",
            cooldown,
        )
    console.print(timeline)
    decisions = Table(title="Decisions" + ("" if holds else " (holds hidden; --holds shows them)"))
    decisions.add_column("step", justify="right", no_wrap=True)
    decisions.add_column("event", no_wrap=True)
    decisions.add_column("stage", no_wrap=True)
    decisions.add_column("perf", justify="right", no_wrap=True)
    decisions.add_column("reason")
    for event in result.events:
        if event.kind == "hold" and not holds:
            continue
        perf = "" if event.performance is None else f"{event.performance:.3f}"
        what, stages = event_label(event)
        style = REJECTED_STYLE if is_rejected_advance(event) else _STYLE[event.kind]
        decisions.add_row(str(event.step), f"[{style}]{what}[/]", stages, perf, event.reason)
    if decisions.row_count:
        console.print(decisions)
    else:
        console.print("[dim]no advance, rollback or forced advance[/]")
    counts = result.counts()
    rejected = result.rejected_advances()
    last = result.segments[-1]
    console.print(
        f"[bold]{plural(counts['advance'], 'advance')}[/], [bold]{plural(counts['rollback'] - rejected, 'rollback')}"
        f"[/], [bold]{plural(rejected, 'rejected advance')}[/], "
        f"[bold]{plural(counts['forced_advance'], 'forced advance')}[/], {plural(counts['hold'], 'hold')}; "
        f"final stage [bold]{last.stage_name}[/] from step {last.start}, interval scale x{last.interval_scale:g}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("simulate")
def simulate(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Curriculum YAML (the shape of configs/curriculum.yaml); default: built-in."
    ),
    sets: list[str] = set_option("min_performance=0.7"),
    trace: Path | None = typer.Option(
        None, "--trace", help="CSV with columns step,simple,medium,hard: one row per evaluation, values in [0, 1]."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Synthetic learner parameters 'key=value,...' (e.g. 'collapse=1.5,seed=3'; 'default' for all "
        "defaults, which is also what runs with neither --trace nor --model). Keys: floor, ceil_*, tau_*, "
        "transfer, noise, collapse, recovery, seed (docs/curriculum.md).",
    ),
    steps: int | None = typer.Option(
        None,
        "--steps",
        min=1,
        help="Simulate up to this step (model: default twice the planned schedule; trace: default all rows).",
    ),
    policy: str | None = typer.Option(None, "--policy", help=f"Override the config's policy: {', '.join(POLICIES)}."),
    jsonl: Path | None = typer.Option(
        None, "--jsonl", help="Also write the run, timeline segments, cooldowns and events as JSONL (atomic)."
    ),
    holds: bool = typer.Option(False, "--holds", help="List hold decisions too, not only stage changes."),
) -> None:
    """Run the curriculum policy on a performance trace or a synthetic learning curve and print its timeline.

    With neither --trace nor --model it runs the default synthetic learner (--model default).

    Example: pixelis curriculum simulate --model collapse=1.5 --steps 4000 --holds
    """
    if trace is not None and model is not None:
        fail("pass one of --trace CSV or --model PARAMS, not both")
    if jsonl is not None:  # before simulating: a read-only --jsonl must not come after the whole timeline
        try:
            check_writable(jsonl)
        except WriteError as err:
            fail(f"--jsonl {err}")
    cfg = load_config(CurriculumConfig, config, sets, {"policy": policy}, flag_names={"policy": "--policy"})
    try:
        if trace is not None:
            result = simulate_trace(cfg, read_trace(trace), steps=steps, source=f"trace {trace}")
        else:
            try:
                learner = parse_model(model or "default")
            except ConfigError as err:
                fail(f"--model: {err}")
            result = simulate_model(cfg, learner, steps=steps)
    except TraceError as err:
        fail(str(err))
    except ValueError as err:
        fail(f"{trace if trace is not None else '--model'}: {err}")
    _render(result, holds)
    if jsonl is not None:
        try:
            write_jsonl(result, cfg, jsonl)
        except WriteError as err:  # the disk filled up meanwhile
            fail(f"--jsonl {err}")
        console.print(f"wrote {plural(len(result.jsonl_records(cfg)), 'record')} to {jsonl}", highlight=False)
