"""Disk full, read-only and permission errors: one line naming the path the user gave (never the temp file)
and the cause, exit code 2; nothing half-written is left. Injected faults run everywhere; a real full
and a real read-only file system (a mounted tmpfs) need root, a chmod 0o500 folder a non-root user
(root writes through chmod): each of those variants is skipped, with the reason, where it cannot run."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelis_cli.app import app
from pixelis_core.atomic import TEMP_NAME, atomic_dir, atomic_path
from pixelis_core.write_errors import WriteError

runner = CliRunner()
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="root writes into a chmod 0o500 folder: nothing to refuse")


def one_line(output: str) -> str:
    return " ".join(output.split())


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if TEMP_NAME.match(p.name))


FAULTS = {
    "ENOSPC on the temp file": (lambda tmp: OSError(errno.ENOSPC, "No space left on device", str(tmp))),
    "ENOSPC from write()": (lambda tmp: OSError(errno.ENOSPC, "No space left on device")),
    "EROFS": (lambda tmp: OSError(errno.EROFS, "Read-only file system", str(tmp))),
    "EACCES": (lambda tmp: PermissionError(errno.EACCES, "Permission denied", str(tmp))),
    "torch stream": (lambda tmp: RuntimeError("basic_ios::clear: iostream error")),
}
CAUSES = {
    "ENOSPC on the temp file": "No space left on device (disk full)",
    "ENOSPC from write()": "No space left on device (disk full)",
    "EROFS": "Read-only file system",
    "EACCES": "Permission denied",
    "torch stream": "write failed (basic_ios::clear: iostream error)",
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_failed_write_names_the_target_and_the_cause(tmp_path, fault, kind):
    target = tmp_path / "out" / ("scores.parquet" if kind == "file" else "step-00000004")
    opener = atomic_path if kind == "file" else atomic_dir
    with pytest.raises(WriteError) as caught, opener(target) as tmp:
        raise FAULTS[fault](tmp / "adapter" if kind == "dir" else tmp)
    err = caught.value
    assert (err.filename, err.strerror) == (str(target), CAUSES[fault])
    assert str(err) == f"{target}: cannot write: {CAUSES[fault]}"
    assert ".tmp" not in str(err)
    assert not target.exists() and leftovers(tmp_path) == []


def test_an_error_about_another_path_is_left_as_it_is(tmp_path):
    """Reading an input inside the block fails for the input, not the output: not a WriteError."""
    source = tmp_path / "input.jsonl"
    with pytest.raises(PermissionError) as caught, atomic_path(tmp_path / "out.parquet"):
        raise PermissionError(errno.EACCES, "Permission denied", str(source))
    assert not isinstance(caught.value, WriteError) and caught.value.filename == str(source)
    with pytest.raises(ValueError, match="bad record"), atomic_path(tmp_path / "out.parquet"):
        raise ValueError("bad record")


class _Adapter:
    """A PEFT-like model: ``save_pretrained`` writes the adapter folder as PEFT does."""

    def save_pretrained(self, path: Path, state_dict=None) -> None:
        path.mkdir(parents=True)
        (path / "adapter_model.safetensors").write_bytes(b"weights")


class _Scheduler:
    def state_dict(self) -> dict:
        return {"last_epoch": 3}


@pytest.mark.parametrize("fault", ["ENOSPC from write()", "torch stream"])
def test_a_checkpoint_on_a_full_disk_names_the_checkpoint(tmp_path, monkeypatch, fault):
    torch = pytest.importorskip("torch")
    from pixelis_train import checkpoint

    real_save = torch.save

    def save(obj, path, *args, **kwargs):
        if Path(path).name == "optimizer.pt":  # the adapter is written, then the disk is full
            raise FAULTS[fault](path)
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    with pytest.raises(WriteError) as caught:
        checkpoint.save_checkpoint(tmp_path, 3, _Adapter(), {}, _Scheduler(), {}, {"a": 1}, keep_last=2)
    assert str(caught.value) == f"{tmp_path / 'checkpoints' / 'step-00000003'}: cannot write: {CAUSES[fault]}"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == []  # no temp dir, no half checkpoint


@pytest.mark.slow
def test_train_on_a_full_disk_is_a_one_line_error_naming_the_checkpoint(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from pixelis_train.demo_data import make_demo_split

    split = make_demo_split(tmp_path / "split", tmp_path / "images", n_per_category=4, n_eval_per_category=2)

    def full_disk(*args, **kwargs):  # what torch raises when its stream writer hits ENOSPC
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", full_disk)
    run = tmp_path / "run"
    args = ["train", str(split), "--model", "tiny-text", "--steps", "2", "--out", str(run), "--no-live"]
    args += ["--image-root", str(tmp_path / "images"), "--save-interval", "2", "--eval-interval", "2"]
    args += ["--set", "lora.r=4", "--set", "eval.max_per_category=2", "--threads", "1"]
    threads = torch.get_num_threads()
    try:
        result = runner.invoke(app, args)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    cause = "write failed (basic_ios::clear: iostream error)"
    assert last == f"error: {run / 'checkpoints' / 'step-00000002'}: cannot write: {cause}"
    assert "Traceback" not in result.output and leftovers(tmp_path) == []


def test_score_into_a_failing_output_names_the_output(tmp_path, monkeypatch, write_jsonl):
    import pyarrow.parquet as pq

    data = write_jsonl([{"sample_id": "a", "question": "q", "trajectory": [], "answer": "x"}])

    class FullDisk:
        def __init__(self, where, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(where))

    monkeypatch.setattr(pq, "ParquetWriter", FullDisk)
    out = tmp_path / "res" / "s.scores.parquet"
    result = runner.invoke(app, ["score", str(data), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"error: {out}: No space left on device (disk full)"
    assert leftovers(tmp_path) == [] and not out.exists()


def test_an_uncaught_write_error_of_any_command_is_one_line(tmp_path, monkeypatch):
    """The root group's net: a command that does not catch it still prints one line, exit 2."""
    from pixelis_train.curriculum import simulate

    target = tmp_path / "t.jsonl"

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / f".t.jsonl.{os.getpid()}-abc.tmp"))

    monkeypatch.setattr(simulate, "make_policy", read_only)  # fails inside the command, uncaught there
    result = runner.invoke(app, ["curriculum", "simulate", "--jsonl", str(target)])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"error: {target}: Read-only file system"


@needs_non_root
def test_score_into_a_read_only_folder(tmp_path, write_jsonl):
    data = write_jsonl([{"sample_id": "a", "question": "q", "trajectory": [], "answer": "x"}])
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = runner.invoke(app, ["score", str(data), "-o", str(folder / "s.parquet")])
    finally:
        folder.chmod(0o700)
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"error: {folder / 's.parquet'}: Permission denied"


def test_an_uncaught_disk_full_without_a_file_name_is_still_one_line(monkeypatch):
    from pixelis_train.curriculum import simulate

    def full(*args, **kwargs):  # e.g. an appended log: write() fails with no file name attached
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(simulate, "make_policy", full)
    result = runner.invoke(app, ["curriculum", "simulate"])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == "error: a write failed: No space left on device (disk full)"


def _mounted_tmpfs(where: Path, options: str):
    """A real tmpfs at ``where`` (needs root and a kernel that lets this container mount), unmounted after."""
    if not AS_ROOT or not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        # lazy: a traceback kept by pytest may still hold a file of it open
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system."""
    yield from _mounted_tmpfs(tmp_path / "disk", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path):
    """A real read-only file system: EROFS even for root."""
    yield from _mounted_tmpfs(tmp_path / "ro", "ro,size=1m")


def test_outputs_on_a_really_read_only_file_system(read_only_disk, write_jsonl):
    data = write_jsonl([{"sample_id": "a", "question": "q", "trajectory": [], "answer": "x"}])
    out = read_only_disk / "s.parquet"
    score = runner.invoke(app, ["score", str(data), "-o", str(out)])
    assert score.exit_code == 2, score.output
    assert one_line(score.output) == f"error: {out}: Read-only file system"
    jsonl = read_only_disk / "t.jsonl"
    sim = runner.invoke(app, ["curriculum", "simulate", "--jsonl", str(jsonl)])
    assert sim.exit_code == 2 and one_line(sim.output) == f"error: --jsonl {jsonl}: cannot write: Read-only file system"
    run = read_only_disk / "run"
    train = runner.invoke(app, ["train", str(data.parent), "--out", str(run), "--model", "tiny-text"])
    assert train.exit_code == 2, train.output
    assert one_line(train.output) == f"error: --out {run}: cannot write the run directory (Read-only file system)"


def test_a_checkpoint_on_a_really_full_disk(small_disk):
    torch = pytest.importorskip("torch")
    from pixelis_train import checkpoint

    state = {"exp_avg": torch.zeros(1 << 20)}  # 4 MiB: cannot fit in 1 MiB
    with pytest.raises(WriteError) as caught:
        checkpoint.save_checkpoint(small_disk, 3, _Adapter(), state, _Scheduler(), {}, {"a": 1}, keep_last=2)
    target = small_disk / "checkpoints" / "step-00000003"
    assert str(caught.value) == f"{target}: cannot write: No space left on device (disk full)"
    assert list((small_disk / "checkpoints").iterdir()) == []


def test_simulate_jsonl_on_a_disk_that_fills_up(small_disk):
    (small_disk / "filler").write_bytes(b"\0" * (1 << 20))  # the disk is full, creating a file still works
    target = small_disk / "sim.jsonl"
    result = runner.invoke(app, ["curriculum", "simulate", "--holds", "--jsonl", str(target)])
    assert result.exit_code == 2, result.output
    cause = "No space left on device (disk full)"
    assert result.output.strip().splitlines()[-1] == f"error: --jsonl {target}: cannot write: {cause}"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
