"""Every command's --help (subcommands included): flags without a type placeholder, an Example line,
arguments named in capitals in the usage line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest
import typer
from typer.testing import CliRunner

from pixelis_cli import app as app_module
from pixelis_cli.app import app

runner = CliRunner()


def _command_paths(command: click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    # Typer's group is not a click.Group in every version: it is one if it has subcommands
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_every_command_is_covered():
    names = {" ".join(p) for p in COMMANDS}
    assert {"", "train", "model-score", "split", "score", "curriculum", "curriculum simulate"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "pixelis")
def test_help_has_an_example_and_no_bool_placeholder(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert re.search(r"^\s*Example\b.*: pixelis ", result.output, re.MULTILINE), result.output
    assert re.search(r"--help\s+Show this message", result.output)  # nothing between the flag and its help
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    for argument in re.findall(r"[{\[]([^\]}]+)[}\]]", usage):
        assert argument == "OPTIONS" or argument.isupper(), usage


def test_value_options_keep_their_type():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert re.search(r"--steps\s+<int>", result.output)
    assert re.search(r"--threads\s+<int range> \[x>=1\]", result.output)
    assert re.search(r"--no-live\s+No live progress", result.output)


def test_train_flags_show_the_config_defaults():
    from pixelis_train.config import TrainConfig

    defaults = TrainConfig()
    flat = " ".join(runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).output.split())
    expected = {
        "Total optimizer steps.": defaults.optim.steps,
        "Peak learning rate.": defaults.optim.lr,
        "Micro-batches per optimizer step.": defaults.optim.grad_accum,
        "Steps between evaluations.": defaults.curriculum.eval_interval,
        "Longest token sequence.": defaults.data.format.max_length,
    }
    for text, value in expected.items():
        assert f"{text} [default: {value}, or the --config file's]" in flat


def test_version_prints_the_package_version():
    import pixelis_data

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"pixelis {pixelis_data.__version__}"


@pytest.mark.parametrize("name", [*app_module.COMMANDS, *app_module.GROUPS])
def test_a_command_alone_has_the_help_it_has_in_the_whole_app(name):
    alone = runner.invoke(app_module.build_app(only=name), [name, "--help"], env={"COLUMNS": "200"})
    whole = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert alone.exit_code == whole.exit_code == 0, alone.output
    assert alone.output == whole.output


def test_the_whole_app_has_every_command_of_the_tables():
    names = {p[0] for p in COMMANDS if p}
    assert names == {*app_module.COMMANDS, *app_module.GROUPS}


def test_pixelis_score_imports_no_other_command():
    # the console script's start-up: `pixelis score` must not pay for the training or calibration modules
    code = (
        "import sys; sys.argv = ['pixelis', 'score', '--help']\n"
        "from pixelis_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import json; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pixelis_', 'pandas')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "pixelis_cli.score" in loaded
    assert not [m for m in loaded if m.startswith(("pixelis_cli.train", "pixelis_cli.calibrate", "pixelis_train"))]
    assert "pandas" not in loaded
