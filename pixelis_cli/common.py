"""Shared CLI plumbing: consoles, one-line errors with exit code 2, config loading with overrides."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pixelis_core.atomic import target_of
from pixelis_core.config_io import ConfigError, apply_overrides, load_yaml, parse_sets
from pixelis_core.write_errors import DISK_ERRNOS, OUTPUT_ERRNOS, WriteError, cause_of

try:
    from typer.core import TyperGroup, TyperOption
except ImportError:  # another Typer layout: nothing to fix there
    from typer.core import TyperGroup

    TyperOption = None

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")

USAGE_ERROR = 2


def _flags_show_no_type() -> None:
    """Boolean flags (and --help) take no value, so --help shows no type for them.

    Typer 0.29's rich help panel prints ``display_type_rich`` for every option, flags included, which
    reads ``--no-live <bool>`` / ``--help <bool>`` as if a value were expected; its plain renderer
    already leaves flags out. tests/test_cli_help.py fails if an upgrade brings the placeholder back.
    """
    if TyperOption is None or getattr(TyperOption.display_type_rich, "_pixelis_flags", False):
        return
    typed = TyperOption.display_type_rich

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag and not self.count else typed(self, ctx)

    display_type_rich._pixelis_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def output_error_message(err: OSError) -> str | None:
    """The one-line message of a write that failed (disk full, read-only, no permission); None for others.

    Names the path the user gave: a temp file's name is mapped back to its target.
    """
    if isinstance(err, WriteError):
        return str(err)
    if err.errno in OUTPUT_ERRNOS and err.filename is not None:
        return f"{target_of(os.fsdecode(err.filename))}: {cause_of(err.errno)}"
    if err.errno in DISK_ERRNOS:  # a write() with no file attached (an appended log): the cause at least
        return f"a write failed: {cause_of(err.errno)}"
    return None


class PixelisGroup(TyperGroup):
    """The root command group: a failed write that no command caught is a one-line error, exit 2.

    The net under every command (CliRunner tests included), so a full disk or a read-only output
    never shows a traceback, whichever step wrote.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as err:
            message = output_error_message(err)
            if message is None:
                raise
            fail(message)


def set_option(example: str) -> Any:
    """The repeatable ``--set KEY=VALUE`` option of every command that reads a config file."""
    return typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        show_default=False,
        help=f"Set one config field: a dotted KEY and a YAML VALUE, e.g. --set {example} (repeatable). "
        "Order: the --config file (or the defaults), then every --set, then the specific flags, which win.",
    )


def build_config(
    cls: type[T], path: Path | None, sets: Sequence[str] = (), flags: Mapping[str, Any] | None = None
) -> T:
    """``cls`` from the file at ``path`` (defaults when None), then ``--set`` items, then the specific flags.

    ``flags`` maps dotted fields to the values of a command's own options (None: not given). The
    ``--set`` items and the flags are applied in one :func:`apply_overrides`, so a flag wins over a
    ``--set`` of the same field and every problem is reported at once. Raises :class:`ConfigError`.
    """
    config = load_yaml(cls, path)
    changes = parse_sets(sets)
    changes.update({key: value for key, value in (flags or {}).items() if value is not None})
    # keep_none: a --set KEY=null must reach the config; the flags that were not given are already dropped
    return apply_overrides(config, changes, keep_none=True)


def load_config(
    cls: type[T],
    path: Path | None,
    sets: Sequence[str] = (),
    flags: Mapping[str, Any] | None = None,
    *,
    flag_names: Mapping[str, str] | None = None,
) -> T:
    """:func:`build_config`; any problem is a one-line error with exit code 2.

    ``flag_names`` (dotted field -> option, e.g. ``{"split.eval_fraction": "--eval-fraction"}``): a
    problem of a field that such an option set is reported under the option's name.
    """
    try:
        return build_config(cls, path, sets, flags)
    except ConfigError as err:
        fail(f"invalid config: {_name_flags(err, flags or {}, flag_names or {})}")


def _name_flags(err: ConfigError, flags: Mapping[str, Any], flag_names: Mapping[str, str]) -> str:
    given = {key: name for key, name in flag_names.items() if flags.get(key) is not None}
    problems = []
    for problem in err.problems:
        field, sep, rest = problem.partition(":")
        problems.append(given[field] + sep + rest if sep and field in given else problem)
    return str(ConfigError(problems, err.source))


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """The torchrun command line that runs ``pixelis <argv>`` on ``nproc`` local processes (--nproc removed)."""
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    # --standalone: a single-node job on a free port (several jobs on one machine do not collide)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    return [*launcher, "-m", "pixelis_cli.app", *rest]


def reexec_under_torchrun(nproc: int) -> NoReturn:
    """Replace this process with ``torchrun --nproc_per_node nproc`` running the same command (``--nproc`` removed)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        fail(f"--nproc {nproc}: already running under torchrun (WORLD_SIZE={os.environ['WORLD_SIZE']})")
    command = torchrun_command(sys.argv[1:], nproc)
    sys.stdout.flush()
    os.execv(command[0], command)
