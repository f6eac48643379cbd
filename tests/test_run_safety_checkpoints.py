"""Corrupt checkpoints: ``--resume auto`` verifies the manifest (sizes + sha256) and falls back to the newest
good checkpoint with a warning naming the bad one; a bad explicit checkpoint is a one-line error naming the file."""

from __future__ import annotations

import json

import pytest
from test_run_safety_resume import base, copy_run, invoke, one_line, snapshot

from pixelis_train.checkpoint import MANIFEST, resolve_resume, verify_checkpoint

pytestmark = pytest.mark.slow

__all__ = ["base"]  # the module-scoped fixture, shared with test_run_safety_resume

FILES = ["adapter/adapter_model.safetensors", "optimizer.pt", "rng.pt", "state.json"]
LAST, PREVIOUS = "step-00000004", "step-00000002"


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_the_manifest_lists_every_file_with_its_size_and_checksum(base):
    _, _, done = base
    ckpt = done / "checkpoints" / LAST
    entries = json.loads((ckpt / MANIFEST).read_text())["files"]
    on_disk = sorted(str(p.relative_to(ckpt)) for p in ckpt.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert sorted(entries) == on_disk and set(FILES) <= set(entries)
    for name, entry in entries.items():
        assert entry["bytes"] == (ckpt / name).stat().st_size
    assert verify_checkpoint(ckpt) is None


@pytest.mark.parametrize("name", FILES)
def test_auto_falls_back_past_a_truncated_file_and_an_explicit_resume_names_it(base, tmp_path, name):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    bad = run / "checkpoints" / LAST / name
    truncate(bad)
    warnings: list[str] = []
    assert resolve_resume("auto", run, warn=warnings.append) == run / "checkpoints" / PREVIOUS
    assert len(warnings) == 1
    assert warnings[0].startswith(f"skipping checkpoint {LAST}: {bad}: ") and "truncated" in warnings[0]
    assert warnings[0].endswith(f"resuming from {PREVIOUS} instead")

    before = snapshot(run)
    result = invoke(split_dir, cfg_path, run, "--resume", str(run / "checkpoints" / LAST))
    assert result.exit_code == 2
    text = one_line(result)
    assert text.startswith(f"error: --resume {run / 'checkpoints' / LAST}: {bad}: ") and "bytes" in text, text
    assert snapshot(run) == before


def test_resume_auto_with_a_corrupt_latest_checkpoint_continues_from_the_previous_one(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    adapter = run / "checkpoints" / LAST / "adapter" / "adapter_model.safetensors"
    data = bytearray(adapter.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the checksum can tell
    adapter.write_bytes(bytes(data))
    result = invoke(split_dir, cfg_path, run, "--resume", "auto")
    assert result.exit_code == 0, result.output
    text = one_line(result)
    assert f"warning: skipping checkpoint {LAST}: {adapter}: checksum differs from manifest.json (corrupt)" in text
    assert "steps 2 -> 4 (completed)" in text
    assert verify_checkpoint(run / "checkpoints" / LAST) is None  # rewritten by the resumed run


def test_no_intact_checkpoint_is_a_one_line_error_listing_each(base, tmp_path):
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    truncate(run / "checkpoints" / LAST / "state.json")
    truncate(run / "checkpoints" / PREVIOUS / "rng.pt")
    result = invoke(split_dir, cfg_path, run, "--resume", "auto")
    assert result.exit_code == 2
    text = one_line(result)
    assert text.startswith(f"error: no usable checkpoint in {run / 'checkpoints'}: {LAST}: ")
    assert f"{PREVIOUS}: {run / 'checkpoints' / PREVIOUS / 'rng.pt'}: " in text


@pytest.mark.parametrize("name", FILES)
def test_a_checkpoint_without_manifest_fails_on_load_with_the_file_named(base, tmp_path, name):
    """Checkpoints written before manifests existed: each unreadable file is still a one-line error."""
    split_dir, cfg_path, done = base
    run = copy_run(done, tmp_path / "run")
    ckpt = run / "checkpoints" / LAST
    (ckpt / MANIFEST).unlink()
    truncate(ckpt / name)
    before = snapshot(run)
    result = invoke(split_dir, cfg_path, run, "--resume", str(ckpt))
    assert result.exit_code == 2, result.output
    text = one_line(result)
    assert f"{ckpt / name}: " in text, text
    assert snapshot(run) == before
