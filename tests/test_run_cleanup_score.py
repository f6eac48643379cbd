"""A killed `pixelis score` leaves no temp file: SIGTERM / SIGINT remove it on the way out, and the temp
file a SIGKILL left (named with the dead pid) is removed by the next run into the same folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelis_core.atomic import TEMP_NAME
from pixelis_data.generate.writer import write_samples

ROOT = Path(__file__).parent.parent
N_SAMPLES = 5000  # scoring takes about a second here: long enough to be caught mid-write


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "samples.jsonl"
    write_samples(path, N_SAMPLES, seed=0)
    return path


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_NAME.match(p.name))


def _score(data: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "pixelis_cli.app", "score", str(data), "-q", *extra]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _score_while_writing(tmp_path: Path, big_input: Path) -> tuple[subprocess.Popen, Path, list[str]]:
    """A `pixelis score` of a copy of the big input, caught while its temp output exists."""
    data = tmp_path / big_input.name
    data.write_bytes(big_input.read_bytes())
    proc = _score(data)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (temps := _temps(tmp_path)):
        assert proc.poll() is None, f"score ended before it was caught writing: {proc.communicate()}"
        time.sleep(0.005)
    assert temps, "no temp file appeared"
    return proc, data, temps


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, None)], ids=["SIGTERM", "SIGINT"]
)
def test_sigterm_and_sigint_remove_the_temp_files(tmp_path, big_input, sig, code):
    proc, _, temps = _score_while_writing(tmp_path, big_input)
    assert any(name.startswith(".samples.scores.parquet.") for name in temps), temps
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and (code is None or proc.returncode == code), (proc.returncode, err)
    assert "Traceback" not in err
    assert _temps(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.jsonl"]  # no output, no rejects file


def test_a_sigkill_leaves_a_temp_file_the_next_run_removes(tmp_path, big_input):
    proc, data, _ = _score_while_writing(tmp_path, big_input)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    left = _temps(tmp_path)
    assert left and all(TEMP_NAME.match(name)["pid"] == str(proc.pid) for name in left), left
    # an unrelated dot file and a temp of a live process (this one) are not touched
    (tmp_path / ".keep.tmp").write_text("mine")
    live = tmp_path / f".other.parquet.{os.getpid()}-abcdefgh.tmp"
    live.write_text("being written")
    rerun = _score(data)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert _temps(tmp_path) == [live.name]
    assert (tmp_path / "samples.scores.parquet").is_file() and (tmp_path / ".keep.tmp").is_file()
