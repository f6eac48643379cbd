"""``pixelis config show|init``: the default configs that ship inside the package.

An installed user has no ``configs/`` folder; these commands print or copy the same files the
repository's ``configs/`` holds (it links to ``pixelis_cli/configs``), so every ``--config`` example
in the README works after ``pixelis config init configs``.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import typer

from pixelis_cli.common import build_config, console, fail, set_option
from pixelis_core.atomic import write_text_atomic
from pixelis_core.config_io import ConfigError, dump_yaml


@dataclass(frozen=True)
class Bundled:
    """One shipped config file and the dataclass it has the shape of."""

    file: str
    shape: str
    about: str


BUNDLED: dict[str, Bundled] = {
    "data": Bundled("data.yaml", "data", "reading, scoring and splitting (pixelis score / split / report)"),
    "curriculum": Bundled("curriculum.yaml", "curriculum", "curriculum stages and policy (curriculum simulate)"),
    "train": Bundled("train.yaml", "train", "every training default (pixelis train)"),
    "demo": Bundled("demo_train.yaml", "train", "what `make demo` trains with (tiny-vl, adaptive curriculum)"),
    "controlled": Bundled("controlled_train.yaml", "train", "the controlled counting task's A/B runs"),
}

app = typer.Typer(
    help="Print or copy the default config files that ship with pixelis.\n\n"
    "Example: pixelis config init configs && pixelis train SPLIT --config configs/demo_train.yaml",
    no_args_is_help=True,
)


def bundled_dir() -> Path:
    """The folder of shipped YAML files inside the installed package."""
    return Path(str(importlib.resources.files("pixelis_cli") / "configs"))


def bundled_text(name: str) -> str:
    """The text of the shipped config ``name`` (a key of :data:`BUNDLED`)."""
    return (bundled_dir() / BUNDLED[name].file).read_text(encoding="utf-8")


def _config_class(shape: str) -> type:
    if shape == "data":
        from pixelis_data.config import DataConfig

        return DataConfig
    if shape == "curriculum":
        from pixelis_train.curriculum.config import CurriculumConfig

        return CurriculumConfig
    from pixelis_train.config import TrainConfig

    return TrainConfig


def _known(name: str) -> Bundled:
    if name not in BUNDLED:
        raise typer.BadParameter(f"{name!r}; choose one of {', '.join(BUNDLED)}", param_hint="NAME")
    return BUNDLED[name]


@app.command("show")
def show(
    name: str = typer.Argument(..., metavar="NAME", help=f"Which config: {', '.join(BUNDLED)}."),
    sets: list[str] = set_option("optim.lr=1e-4"),
    resolved: bool = typer.Option(
        False, "--resolved", help="Print every field after loading and validating (the file lists only some)."
    ),
) -> None:
    """Print a shipped config file (as is, or resolved with --set overrides).

    The output is a valid --config file of the same shape.

    Example: pixelis config show train --set optim.lr=1e-4 > my_train.yaml
    """
    bundled = _known(name)
    if not sets and not resolved:
        typer.echo(bundled_text(name), nl=False)
        return
    try:
        config = build_config(_config_class(bundled.shape), bundled_dir() / bundled.file, sets)
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(dump_yaml(config), nl=False)


@app.command("init")
def init(
    directory: Path = typer.Argument(..., metavar="DIR", help="Folder to write the config files into (created)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist and differ."),
) -> None:
    """Write every shipped config file into DIR (data, curriculum, train, demo_train, controlled_train).

    Files already there with the same text are left alone; files that differ are reported and kept
    unless --force.

    Example: pixelis config init configs
    """
    if directory.exists() and not directory.is_dir():
        fail(f"{directory} exists and is not a directory")
    plan = {directory / b.file: bundled_text(name) for name, b in BUNDLED.items()}
    differ = [p for p, text in plan.items() if p.exists() and p.read_text(encoding="utf-8") != text]
    if differ and not force:
        listed = ", ".join(map(str, differ))
        fail(f"{listed} {'exists' if len(differ) == 1 else 'exist'} with other contents; pass --force to overwrite")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {directory}: {exc.strerror or exc}")
    written = 0
    for path, text in plan.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        try:
            write_text_atomic(path, text)
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror or exc}")
        written += 1
    kept = len(plan) - written
    console.print(
        f"wrote {written} of {len(plan)} config files to {directory}" + (f" ({kept} unchanged)" * bool(kept)),
        soft_wrap=True,
    )
    for b in BUNDLED.values():
        console.print(f"  {directory / b.file}: {b.about}", highlight=False, soft_wrap=True)
