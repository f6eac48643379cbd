"""Shared CLI plumbing: consoles, one-line errors with exit code 2, config loading."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pixelis_core.config_io import ConfigError, load_yaml

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")

USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_config(cls: type[T], path: Path | None) -> T:
    """Load a config dataclass from ``--config`` (defaults when None); a bad file or value exits 2."""
    try:
        return load_yaml(cls, path)
    except ConfigError as err:
        fail(f"invalid config: {err}")
