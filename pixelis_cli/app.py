"""The ``pixelis`` Typer app. Each command lives in its own module and is registered here."""

from __future__ import annotations

import typer

import pixelis_data
from pixelis_cli import calibrate, curriculum, generate, score, split
from pixelis_cli import config as config_cmd
from pixelis_cli import experiment as experiment_cmd
from pixelis_cli import explain as explain_cmd
from pixelis_cli import model_score as model_score_cmd
from pixelis_cli import report as report_cmd
from pixelis_cli import train as train_cmd
from pixelis_cli.common import PixelisGroup
from pixelis_core.processes import die_with_parent, exit_on_sigterm, under_torchrun

app = typer.Typer(
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pixelis {pixelis_data.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the pixelis version and exit."
    ),
) -> None:
    """Curriculum fine-tuning toolkit for vision-language models on chain-of-thought-and-action data."""


app.command("generate")(generate.generate)
app.command("score")(score.score)
app.command("split")(split.split)
app.command("train")(train_cmd.train)
app.command("experiment")(experiment_cmd.experiment)
app.command("report")(report_cmd.report)
app.command("explain")(explain_cmd.explain)
app.command("model-score")(model_score_cmd.model_score)
app.command("calibrate")(calibrate.calibrate_cmd)
app.add_typer(config_cmd.app, name="config")
app.add_typer(
    curriculum.app,
    name="curriculum",
    help="Dry-run and tune the curriculum policy (simulate).\n\n"
    "Example: pixelis curriculum simulate --model collapse=1.5",
)


def main() -> None:
    """Console-script entry point: SIGTERM unwinds (temp files are removed); a torchrun worker dies with its agent."""
    if under_torchrun():
        die_with_parent()
    exit_on_sigterm()
    app()


if __name__ == "__main__":
    main()
