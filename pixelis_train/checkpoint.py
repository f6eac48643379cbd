"""Atomic, complete checkpoints: a directory per step, written to a temp dir, fsynced, then renamed.

    checkpoints/step-00000500/
        adapter/            PEFT adapter (adapter_config.json + adapter_model.safetensors)
        optimizer.pt        optimizer + LR scheduler state
        rng.pt              python, numpy, torch (CPU + CUDA) RNG states (of rank 0)
        rng-rank1.pt ...    the same for every other rank of a multi-process run
        state.json          step, stream state, curriculum state, loop state (early stopping, counters)
        config.yaml         the resolved TrainConfig

Under torchrun only rank 0 writes; what other ranks hold (RNG states, FSDP shards) is gathered to it
first. A directory named ``step-*`` is complete by construction (the rename is the last act), so
``--resume auto`` simply takes the highest step. Only the last ``keep_last`` are kept.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import warnings
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
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints of ``run_dir``, oldest first."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def resolve_resume(resume: str | None, run_dir: Path) -> Path | None:
    """``None`` -> no resume; ``auto`` -> the latest checkpoint of run_dir (None if there is none); else a path."""
    if resume is None:
        return None
    if resume == "auto":
        found = checkpoint_dirs(run_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "state.json").is_file():
        raise ValueError(f"--resume {resume}: not a checkpoint directory (no state.json)")
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
    """The step and JSON state of the checkpoint at ``path``."""
    state = json.loads((path / "state.json").read_text())
    return Checkpoint(path, int(state["step"]), state)


def restore_adapter(ckpt: Checkpoint, model: Any) -> None:
    """Load the adapter weights of ``ckpt`` into the (not yet wrapped or sharded) PEFT model."""
    peft = require("peft")
    safetensors = require("safetensors.torch")
    weights = safetensors.load_file(str(ckpt.path / ADAPTER / "adapter_model.safetensors"))
    result = peft.set_peft_model_state_dict(model, weights)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"{ckpt.path}: adapter does not match the model (unexpected {unexpected[:3]})")


def read_optimizer(ckpt: Checkpoint) -> dict[str, Any]:
    """``{"optimizer": ..., "scheduler": ...}`` as saved (load the optimizer part with
    :func:`pixelis_train.distributed.load_optimizer_state`)."""
    return torch.load(ckpt.path / "optimizer.pt", map_location="cpu", weights_only=False)


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
    set_rng_state(torch.load(path, weights_only=False))


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
