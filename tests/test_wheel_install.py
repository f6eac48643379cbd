"""The wheel as a user installs it: only pixelis's own top-level packages, the default configs inside,
and the commands working in a fresh virtual environment outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _source_copy(dest: Path) -> Path:
    """The tracked and untracked-but-not-ignored files, so the build never writes into the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in listed:
        src = REPO / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = _source_copy(root / "src")
    out = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("pixelis-*.whl")
    return found


def test_wheel_holds_only_pixelis_packages_and_the_configs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"pixelis_cli", "pixelis_core", "pixelis_data", "pixelis_train"}
    configs = {n.split("/")[-1] for n in names if n.startswith("pixelis_cli/configs/")}
    assert configs == {"data.yaml", "curriculum.yaml", "train.yaml", "demo_train.yaml", "controlled_train.yaml"}
    assert not any(n.startswith(("tests/", "benchmarks/", "cli/")) for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines() if "Requires-Dist" in line]
    base = {line.split()[1].split(">")[0].split("=")[0].lower() for line in requires if "extra ==" not in line}
    # image generation is a data feature: Pillow may not hide behind the train extra
    assert {"polars", "pyarrow", "pillow", "typer", "pyyaml"} <= base
    assert "torch" not in base


def test_installed_wheel_runs_outside_the_repository(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # The dependencies come from this test environment's site-packages (no download); pip still resolves
    # the wheel's dependency list against them (with --no-index, an unsatisfiable one fails the install).
    site = Path(sysconfig.get_paths()["purelib"])
    env_site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (env_site / "deps.pth").write_text(f"{site}\n", encoding="utf-8")
    install = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-index", str(wheel)], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("PYTHONPATH", None)
    pixelis = env_dir / "bin" / "pixelis"

    def run(*args: str) -> str:
        result = subprocess.run([pixelis, *args], cwd=work, capture_output=True, text=True, env=env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    where = subprocess.run(
        [py, "-c", "import pixelis_cli; print(pixelis_cli.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert str(env_dir) in where and str(REPO) not in where

    assert run("--version").startswith("pixelis ")
    shown = run("config", "show", "train")
    assert yaml.safe_load(shown)["model"]["name"] == "tiny-vl"
    (work / "train.yaml").write_text(shown, encoding="utf-8")
    check = "from pixelis_core.config_io import load_yaml; from pixelis_train.config import TrainConfig; "
    subprocess.run([py, "-c", check + "load_yaml(TrainConfig, 'train.yaml')"], cwd=work, env=env, check=True)

    run("generate", "60", "-o", "data/s.jsonl", "--images", "data/images", "--seed", "1")
    assert len(list((work / "data" / "images").glob("*.png"))) == 60
    run("score", "data/s.jsonl")
    assert (work / "data" / "s.scores.parquet").exists()
    run("split", "data/s.scores.parquet", "-o", "data/split", "--eval-per-category", "4")
    assert (work / "data" / "split" / "manifest.json").exists()
