"""`pixelis config show|init`: the shipped configs are the repository's, load back as configs, and
init never overwrites a user's edit silently."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_cli.config import BUNDLED
from pixelis_core.config_io import load_yaml
from pixelis_data.config import DataConfig
from pixelis_train.config import TrainConfig
from pixelis_train.curriculum.config import CurriculumConfig

runner = CliRunner()
REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHAPES = {"data": DataConfig, "curriculum": CurriculumConfig, "train": TrainConfig}


@pytest.mark.parametrize("name", list(BUNDLED))
def test_show_prints_the_repository_file_and_it_loads_back(name, tmp_path):
    result = runner.invoke(app, ["config", "show", name])
    assert result.exit_code == 0, result.output
    assert result.output == (REPO_CONFIGS / BUNDLED[name].file).read_text(encoding="utf-8")
    out = tmp_path / "c.yaml"
    out.write_text(result.output, encoding="utf-8")
    load_yaml(SHAPES[BUNDLED[name].shape], out)  # raises on any problem


def test_show_resolved_applies_sets_and_validates(tmp_path):
    result = runner.invoke(app, ["config", "show", "demo", "--set", "optim.lr=0.001", "--set", "seed=7"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    assert data["optim"]["lr"] == 0.001 and data["seed"] == 7
    assert data["model"]["name"] == "tiny-vl"  # the demo file's own value survives
    out = tmp_path / "c.yaml"
    out.write_text(result.output, encoding="utf-8")
    config = load_yaml(TrainConfig, out)
    assert config.optim.lr == 0.001 and config.seed == 7

    bad = runner.invoke(app, ["config", "show", "train", "--set", "optim.lr=-1"])
    assert bad.exit_code == 2
    assert "optim.lr" in bad.output and "-1" in bad.output


def test_show_unknown_name_lists_the_choices():
    result = runner.invoke(app, ["config", "show", "nope"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "choose one of data, curriculum, train, demo, controlled" in result.output


def test_init_writes_every_file_then_keeps_edits_unless_forced(tmp_path):
    target = tmp_path / "configs"
    first = runner.invoke(app, ["config", "init", str(target)])
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in target.iterdir()) == sorted(b.file for b in BUNDLED.values())
    for b in BUNDLED.values():
        assert (target / b.file).read_bytes() == (REPO_CONFIGS / b.file).read_bytes()

    again = runner.invoke(app, ["config", "init", str(target)])
    assert again.exit_code == 0 and "wrote 0 of 5" in again.output and "5 unchanged" in again.output

    edited = target / "train.yaml"
    edited.write_text("seed: 3\n", encoding="utf-8")
    refused = runner.invoke(app, ["config", "init", str(target)], env={"COLUMNS": "300"})
    assert refused.exit_code == 2
    assert f"{edited} exists with other contents; pass --force" in " ".join(refused.output.split())
    assert edited.read_text(encoding="utf-8") == "seed: 3\n"

    forced = runner.invoke(app, ["config", "init", str(target), "--force"])
    assert forced.exit_code == 0 and "wrote 1 of 5" in forced.output
    assert edited.read_bytes() == (REPO_CONFIGS / "train.yaml").read_bytes()


def test_init_into_a_file_is_an_error(tmp_path):
    path = tmp_path / "f"
    path.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["config", "init", str(path)])
    assert result.exit_code == 2 and "is not a directory" in result.output
