"""Multi-process plumbing for ``torchrun``: the process group, rank/world from the environment,
all-reduce helpers, rank-0 guards, DDP / FSDP2 wrapping and the state dicts of a wrapped model.

Single-process runs (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) create no process group; every helper
here is then the identity, so the loop reads the same with one process or many.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pixelis_core.processes import die_with_parent
from pixelis_train._deps import require
from pixelis_train.config import DistributedConfig

torch = require("torch")
dist = require("torch.distributed")

ENV_VARS: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """Who this process is in the job and how the model is parallelised."""

    rank: int
    world_size: int
    local_rank: int
    strategy: str
    """'none' (one process), 'ddp' or 'fsdp'."""
    device: Any

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that logs and writes files."""
        return self.rank == 0

    # -- collectives (identity with one process) -----------------------------------------------------
    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64, so token counts up to 2**53 stay exact)."""
        return self._all_reduce(values, "sum")

    def all_max(self, values: list[float]) -> list[float]:
        """Element-wise maximum over ranks."""
        return self._all_reduce(values, "max")

    def _all_reduce(self, values: list[float], op: str) -> list[float]:
        if self.world_size == 1:
            return [float(v) for v in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return tensor.tolist()

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on at least one (e.g. a SIGTERM seen by one rank)."""
        return self.all_max([float(flag)])[0] > 0

    def gather_objects(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order, on rank 0 (other ranks get an empty list)."""
        if self.world_size == 1:
            return [obj]
        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out or []

    def barrier(self) -> None:
        """Wait for every rank (no-op with one process)."""
        if self.world_size > 1:
            dist.barrier()


def env_ranks() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) when not launched by it."""
    values = {}
    for name, default in zip(ENV_VARS, ("0", "1", "0"), strict=True):
        raw = os.environ.get(name, default)
        try:
            values[name] = int(raw)
        except ValueError:
            raise ValueError(f"environment variable {name}: must be an integer (got {raw!r})") from None
    rank, world, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"environment: RANK={rank} is not in [0, WORLD_SIZE={world})")
    return rank, world, local


def resolve_strategy(strategy: str, world_size: int) -> str:
    """'auto' -> 'ddp' with several processes; every strategy is 'none' with one process."""
    if world_size == 1:
        return "none"
    return "ddp" if strategy == "auto" else strategy


@contextlib.contextmanager
def session(cfg: DistributedConfig) -> Iterator[DistContext]:
    """Join the job's process group (NCCL on GPUs, gloo on CPU) for the duration; leave it after.

    A process group that already exists (created by the caller) is used and left alone. Every worker
    of a multi-process job dies with its launcher (torchrun's agent), even a SIGKILLed one: no orphan
    goes on training and writing checkpoints.
    """
    rank, world, local = env_ranks()
    if world > 1:
        die_with_parent()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda and world > 1 else torch.device("cuda" if cuda else "cpu")
    ctx = DistContext(rank, world, local, resolve_strategy(cfg.strategy, world), device)
    if world == 1:
        yield ctx
        return
    if cuda:
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        backend = cfg.backend if cfg.backend != "auto" else ("nccl" if cuda else "gloo")
        # the timeout bounds every collective: a rank that died or diverged ends the job, not hangs it
        dist.init_process_group(backend, timeout=timedelta(seconds=cfg.timeout_s))
    try:
        yield ctx
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def seed_rank(seed: int, ctx: DistContext) -> None:
    """Give every rank its own dropout stream once the (identical) initial weights exist."""
    if ctx.world_size > 1:
        torch.manual_seed(seed * 100_003 + ctx.rank + 1)


# -- wrapping ----------------------------------------------------------------------------------------
def shard_units(model: Any) -> list[Any]:
    """The modules FSDP2 shards one by one: the model's no-split blocks (decoder layers, vision blocks)."""
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    units = [m for m in model.modules() if type(m).__name__ in names]
    if not units:
        raise ValueError(f"fsdp: found no decoder layers to shard in {type(model).__name__} (no _no_split_modules)")
    return units


def wrap(model: Any, ctx: DistContext) -> Any:
    """DDP, or FSDP2 ``fully_shard`` on each decoder layer and then the root; unchanged with one process."""
    if ctx.strategy == "ddp":
        device_ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if ctx.strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for unit in shard_units(model):
            fully_shard(unit)
        fully_shard(model)
    return model


def unwrap(model: Any) -> Any:
    """The module inside DDP (FSDP2 shards in place: the model is its own module)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def grad_sync(model: Any, ctx: DistContext, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """Skip the gradient all-reduce on all but the last micro-batch of a step."""
    if ctx.strategy == "ddp" and not sync:
        return model.no_sync()
    if ctx.strategy == "fsdp":
        model.set_requires_gradient_sync(sync)
    return contextlib.nullcontext()


def clip_grad_norm(params: list[Any], max_norm: float) -> float:
    """Clip the global gradient norm; FSDP2's sharded gradients give a replicated DTensor norm."""
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return float(norm)


# -- state dicts of a wrapped model (collective under FSDP: every rank must call them) ---------------
def _full_options(**extra: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **extra)


def adapter_state(model: Any, ctx: DistContext) -> dict[str, Any] | None:
    """Full (unsharded, CPU) trainable weights on rank 0 under FSDP; None otherwise (read the model)."""
    if ctx.strategy != "fsdp":
        return None
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options(cpu_offload=True, ignore_frozen_params=True))


def optimizer_state(model: Any, optimizer: Any, ctx: DistContext) -> dict[str, Any]:
    """The optimizer state to save: gathered to full tensors on rank 0 under FSDP."""
    if ctx.strategy != "fsdp":
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_full_options(cpu_offload=True))


def load_optimizer_state(model: Any, optimizer: Any, state: dict[str, Any], ctx: DistContext) -> None:
    """Load a state saved by :func:`optimizer_state` (each rank read the same file)."""
    if ctx.strategy != "fsdp":
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=_full_options())
