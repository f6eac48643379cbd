"""Atomic, complete checkpoints: a directory per step, written to a temp dir, fsynced, then renamed.

    checkpoints/step-00000500/
        adapter/            PEFT adapter (adapter_config.json + adapter_model.safetensors)
        optimizer.pt        optimizer + LR scheduler state
        rng.pt              python, numpy, torch (CPU + CUDA) RNG states (of rank 0)
        rng-rank1.pt ...    the same for every other rank of a multi-process run
        state.json          step, stream state, curriculum state, loop state (early stopping, counters)
        config.yaml         the resolved TrainConfig
        manifest.json       bytes and sha256 of every other file (written last, before the rename)

Under torchrun only rank 0 writes; what other ranks hold (RNG states, FSDP shards) is gathered to it
first. A directory named ``step-*`` is complete by construction (the rename is the last act), but a disk
can still corrupt or truncate its files afterwards: ``--resume auto`` verifies the newest against its
manifest and falls back to the newest good one (with a warning naming the bad one). Anything that cannot
be read is a :class:`CheckpointError` naming the file. Only the last ``keep_last`` are kept.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelis_core.atomic import atomic_dir
from pixelis_core.config_io import dump_yaml
from pixelis_train._deps import require

torch = require("torch")

CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
MANIFEST = "manifest.json"
STATE = "state.json"
ADAPTER_WEIGHTS = f"{ADAPTER}/adapter_model.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints of ``run_dir``, oldest first."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: corrupt, truncated or written for another model; names the file."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path) -> None:
    """``manifest.json``: bytes and sha256 of every file under ``directory`` (call it last)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    entries = {p.relative_to(directory).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files}
    (directory / MANIFEST).write_text(json.dumps({"files": entries}, indent=2, sort_keys=True) + "\n")


def verify_checkpoint(path: Path) -> str | None:
    """What is wrong with the checkpoint at ``path`` (naming the file), or None when it is intact.

    Checked against its manifest: every file there, with its size and checksum. A checkpoint from
    before manifests existed is checked for a readable ``state.json`` only.
    """
    manifest = path / MANIFEST
    if not manifest.is_file():
        try:
            read_checkpoint(path)
        except CheckpointError as err:
            return str(err)
        return None
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        expected = {str(name): (int(e["bytes"]), str(e["sha256"])) for name, e in entries.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return f"{manifest}: not a checkpoint manifest ({err})"
    for name, (size, sha) in expected.items():
        file = path / name
        if not file.is_file():
            return f"{file}: missing (listed in {MANIFEST})"
        actual = file.stat().st_size
        if actual != size:
            return f"{file}: {actual} bytes, {MANIFEST} says {size} (truncated or overwritten)"
        if _sha256(file) != sha:
            return f"{file}: checksum differs from {MANIFEST} (corrupt)"
    return None


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def resolve_resume(resume: str | None, run_dir: Path, warn: Callable[[str], None] | None = None) -> Path | None:
    """``None`` -> no resume; ``auto`` -> the newest intact checkpoint of run_dir (None if there is none);
    else that checkpoint directory, which must be intact.

    ``auto`` skips a corrupt checkpoint for the newest good one, saying so through ``warn`` (default:
    a ``UserWarning``); with none good it raises :class:`CheckpointError` listing why each is bad.
    """
    if resume is None:
        return None
    warn = warn or _warn
    if resume == "auto":
        bad: list[tuple[Path, str]] = []
        for path in reversed(checkpoint_dirs(run_dir)):
            problem = verify_checkpoint(path)
            if problem is None:
                for skipped, why in bad:
                    warn(f"skipping checkpoint {skipped.name}: {why}; resuming from {path.name} instead")
                return path
            bad.append((path, problem))
        if bad:
            raise CheckpointError(
                f"no usable checkpoint in {run_dir / CHECKPOINTS}: " + "; ".join(f"{p.name}: {why}" for p, why in bad)
            )
        return None
    path = Path(resume)
    if not (path / STATE).is_file():
        raise ValueError(f"--resume {resume}: not a checkpoint directory (no state.json)")
    problem = verify_checkpoint(path)
    if problem is not None:
        raise CheckpointError(f"--resume {resume}: {problem}")
    return path


def rng_state() -> dict[str, Any]:
    """Every RNG the loop draws from."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: Any,
    optimizer_state: dict[str, Any],
    scheduler: Any,
    state: dict[str, Any],
    config: Any,
    keep_last: int,
    *,
    adapter_weights: dict[str, Any] | None = None,
    rng_states: list[dict[str, Any]] | None = None,
) -> Path:
    """Write checkpoint ``step`` atomically and prune to ``keep_last``; returns its directory.

    ``model`` is the (unwrapped) PEFT model; ``adapter_weights`` its full trainable weights when they
    cannot be read from it (FSDP shards). ``rng_states``: one per rank, in rank order (default: this
    process's). ``state`` must be JSON-serialisable (stream, curriculum and loop state).
    """
    final = run_dir / CHECKPOINTS / f"step-{step:08d}"
    with atomic_dir(final) as tmp:  # replaces a checkpoint of the same step (a final save after an interval one)
        if adapter_weights is None:
            model.save_pretrained(tmp / ADAPTER)
        else:
            model.save_pretrained(tmp / ADAPTER, state_dict=adapter_weights)
        torch.save({"optimizer": optimizer_state, "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        for rank, rng in enumerate(rng_states or [rng_state()]):
            torch.save(rng, tmp / _rng_file(rank))
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2, sort_keys=True) + "\n")
        (tmp / "config.yaml").write_text(dump_yaml(config))
        write_manifest(tmp)
    for old in checkpoint_dirs(run_dir)[:-keep_last]:
        shutil.rmtree(old)
    return final


def _rng_file(rank: int) -> str:
    return "rng.pt" if rank == 0 else f"rng-rank{rank}.pt"


@dataclass
class Checkpoint:
    """What a checkpoint holds, loaded (the adapter is loaded into the model by :func:`restore`)."""

    path: Path
    step: int
    state: dict[str, Any]


def read_checkpoint(path: Path) -> Checkpoint:
    """The step and JSON state of the checkpoint at ``path``; :class:`CheckpointError` names a bad state.json."""
    file = path / STATE
    try:
        state = json.loads(file.read_text(encoding="utf-8"))
        return Checkpoint(path, int(state["step"]), state)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{file}: not a readable checkpoint state ({err})") from None
    except (KeyError, TypeError):
        raise CheckpointError(f"{file}: not a checkpoint state (no integer 'step')") from None


def _unreadable(file: Path, err: Exception) -> CheckpointError:
    first = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:160]  # the gist, not a paragraph
    return CheckpointError(f"{file}: unreadable ({type(err).__name__}: {first})")


def _torch_load(file: Path) -> Any:
    try:
        return torch.load(file, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, OSError ... for a bad file
        raise _unreadable(file, err) from None


def _lora_rank(adapter_config: Path) -> Any:
    try:
        return json.loads(adapter_config.read_text(encoding="utf-8")).get("r")
    except (OSError, ValueError, AttributeError):
        return None


def restore_adapter(ckpt: Checkpoint, model: Any) -> None:
    """Load the adapter weights of ``ckpt`` into the (not yet wrapped or sharded) PEFT model."""
    peft = require("peft")
    safetensors = require("safetensors.torch")
    file = ckpt.path / ADAPTER_WEIGHTS
    try:
        weights = safetensors.load_file(str(file))
    except Exception as err:  # SafetensorError, OSError: a truncated or missing file
        raise _unreadable(file, err) from None
    try:
        result = peft.set_peft_model_state_dict(model, weights)
    except RuntimeError as err:  # size mismatch: another LoRA rank or another base model
        saved_r = _lora_rank(ckpt.path / ADAPTER / "adapter_config.json")
        now_r = getattr(getattr(model, "peft_config", {}).get("default"), "r", None)
        first = str(err).strip().splitlines()[-1].strip()[:200]
        raise CheckpointError(
            f"{file}: does not fit the model (LoRA r={saved_r} in the checkpoint, r={now_r} now: {first})"
        ) from None
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise CheckpointError(f"{file}: adapter does not match the model (unexpected {unexpected[:3]})")


def read_optimizer(ckpt: Checkpoint) -> dict[str, Any]:
    """``{"optimizer": ..., "scheduler": ...}`` as saved (load the optimizer part with
    :func:`pixelis_train.distributed.load_optimizer_state`)."""
    saved = _torch_load(ckpt.path / "optimizer.pt")
    if not isinstance(saved, dict) or not {"optimizer", "scheduler"} <= saved.keys():
        raise CheckpointError(f"{ckpt.path / 'optimizer.pt'}: not an optimizer checkpoint")
    return saved


def checkpoint_world_size(ckpt: Checkpoint) -> int:
    """Number of ranks of the run that wrote ``ckpt`` (1 for checkpoints older than this field)."""
    return int(ckpt.state.get("world_size", 1))


def check_resumable(ckpt: Checkpoint, strategy: str, world_size: int, *, warn: bool = True) -> None:
    """Refuse a checkpoint of the other sharding layout; warn (if ``warn``) when the world size changed.

    A different world size resumes (the stream's global batch must stay the same: scale micro_batch x
    grad_accum) but not bit-exactly: each rank's dropout RNG stream cannot be carried over.
    """
    saved = ckpt.state.get("strategy", "none")  # checkpoints from before multi-process runs: one process
    if (saved == "fsdp") != (strategy == "fsdp"):
        raise ValueError(
            f"{ckpt.path}: written with strategy {saved!r}, resumed with {strategy!r}; the optimizer states "
            "of fsdp and non-fsdp runs differ: resume with the same strategy"
        )
    saved_world = checkpoint_world_size(ckpt)
    if saved_world != world_size and warn:
        warnings.warn(
            f"{ckpt.path}: written by {saved_world} process(es), resumed with {world_size}: training goes on "
            "with the same global batch and data order, but RNG states (dropout) are reseeded, so the run is "
            "not bit-identical to an uninterrupted one",
            stacklevel=3,
        )


def restore_rng(ckpt: Checkpoint, rank: int) -> None:
    """Set this process's RNGs to those rank ``rank`` had when ``ckpt`` was written."""
    path = ckpt.path / _rng_file(rank)
    if not path.is_file():
        raise ValueError(f"{ckpt.path}: no RNG state for rank {rank} ({path.name} is missing)")
    set_rng_state(_torch_load(path))


def average_adapters(dirs: list[Path], out_dir: Path) -> Path:
    """Uniform average of the adapter weights of ``dirs`` into ``out_dir`` (a loadable adapter dir)."""
    safetensors = require("safetensors.torch")
    tensors = [safetensors.load_file(str(d / ADAPTER / "adapter_model.safetensors")) for d in dirs]
    averaged = {k: sum(t[k].double() for t in tensors).div(len(tensors)).to(tensors[0][k].dtype) for k in tensors[0]}
    with atomic_dir(out_dir) as tmp:
        shutil.copy2(dirs[-1] / ADAPTER / "adapter_config.json", tmp / "adapter_config.json")
        safetensors.save_file(averaged, str(tmp / "adapter_model.safetensors"))
    return out_dir


def copy_dir_atomic(src: Path, dst: Path) -> None:
    """Copy ``src`` onto ``dst`` atomically (copy beside, then rename)."""
    with atomic_dir(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
