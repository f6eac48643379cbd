"""The ``pixelis`` Typer app. Each command lives in its own module and is registered here.

A run imports only the module of the command it runs (``build_app(only=...)``): the modules of all
commands together (torch-free, but pandas, the calibration and training configs, ...) cost about a third
of a second more at every start (building the whole app: 0.85-1.1 s here, the score command alone:
0.55 s). ``app``, the whole app (tests, ``--help``), is built on first use.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import typer

import pixelis_data
from pixelis_cli.common import PixelisGroup
from pixelis_core.allocator import keep_freed_memory
from pixelis_core.processes import die_with_parent, exit_on_sigterm, under_torchrun

COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("pixelis_cli.generate", "generate"),
    "score": ("pixelis_cli.score", "score"),
    "split": ("pixelis_cli.split", "split"),
    "train": ("pixelis_cli.train", "train"),
    "experiment": ("pixelis_cli.experiment", "experiment"),
    "report": ("pixelis_cli.report", "report"),
    "explain": ("pixelis_cli.explain", "explain"),
    "model-score": ("pixelis_cli.model_score", "model_score"),
    "calibrate": ("pixelis_cli.calibrate", "calibrate_cmd"),
}
"""Command name -> (module, function), in the order of ``pixelis --help``."""
GROUPS: dict[str, tuple[str, str | None]] = {
    "config": ("pixelis_cli.config", None),
    "curriculum": (
        "pixelis_cli.curriculum",
        "Dry-run and tune the curriculum policy (simulate).\n\n"
        "Example: pixelis curriculum simulate --model collapse=1.5",
    ),
}
"""Command group name -> (module holding its Typer ``app``, help text or None for the module's own)."""
PIPELINED = ("score", "split")
"""Commands whose readers run as a pipeline of threads (parse, read, score, write: ``pixelis_core/threads.py``)."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pixelis {pixelis_data.__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the pixelis version and exit."
    ),
) -> None:
    """Curriculum fine-tuning toolkit for vision-language models on chain-of-thought-and-action data."""


def build_app(only: str | None = None) -> typer.Typer:
    """The pixelis app with every command, or with the command or group ``only`` alone."""
    built = typer.Typer(
        name="pixelis",
        help="Curriculum fine-tuning toolkit for vision-language models on chain-of-thought-and-action data.\n\n"
        "Pipeline: generate -> score -> split -> train (curriculum simulate to tune the policy first).\n\n"
        "Example: pixelis generate 600 -o data/samples.jsonl --images data/images && pixelis score data/samples.jsonl",
        cls=PixelisGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode="rich",
    )
    built.callback()(_root)
    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            built.command(name)(getattr(importlib.import_module(module), function))
    for name, (module, help_text) in GROUPS.items():
        if only in (None, name):
            group = importlib.import_module(module).app
            built.add_typer(group, name=name, **({} if help_text is None else {"help": help_text}))
    return built


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole app, built once on first use
        globals()["app"] = whole = build_app()
        return whole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: SIGTERM unwinds (temp files are removed); a torchrun worker dies with its agent."""
    if under_torchrun():
        die_with_parent()
    exit_on_sigterm()
    first = sys.argv[1] if len(sys.argv) > 1 else None
    if first in PIPELINED:
        keep_freed_memory()
    try:
        build_app(only=first if first in COMMANDS or first in GROUPS else None)()
    finally:
        if first in PIPELINED:
            # everything alive now lives until exit: without the collector's last full pass over it, Python
            # exits in 0.02 s instead of 0.08 s (the outputs are closed and renamed by then)
            gc.freeze()


if __name__ == "__main__":
    main()
