"""``StreamConfig``: the shape of the global batch and how it is cut into ranks and micro-batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pixelis_core.config_io import Problems

MODES: tuple[str, ...] = ("stratified", "random")


@dataclass(frozen=True)
class StreamConfig:
    """Global batch geometry, seed and per-category count mode of the curriculum stream (DESIGN §7)."""

    global_batch: int = 16
    """Samples per optimizer step over all ranks: micro_batch x grad_accum x world_size."""
    micro_batch: int = 1
    """Samples per forward/backward pass on one rank."""
    world_size: int = 1
    """Number of data-parallel ranks; every rank plans the same global batch and keeps its slice."""
    rank: int = 0
    """This process's rank, 0 <= rank < world_size."""
    seed: int = 0
    """Seeds the per-epoch permutations (and the per-step multinomial in ``random`` mode)."""
    mode: Literal["stratified", "random"] = "stratified"
    """Per-category counts: ``stratified`` (largest remainder with carried remainders) or ``random``
    (multinomial per step)."""

    def __post_init__(self) -> None:
        p = Problems()
        for name in ("global_batch", "micro_batch", "world_size"):
            value = getattr(self, name)
            p.check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{name}: must be an integer >= 1 (got {value!r})",
            )
        p.check(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
            f"seed: must be an integer >= 0 (got {self.seed!r})",
        )
        p.check(self.mode in MODES, f"mode: must be one of {', '.join(map(repr, MODES))} (got {self.mode!r})")
        if isinstance(self.world_size, int) and self.world_size >= 1:
            p.check(
                isinstance(self.rank, int) and not isinstance(self.rank, bool) and 0 <= self.rank < self.world_size,
                f"rank: must be an integer in [0, world_size={self.world_size}) (got {self.rank!r})",
            )
        if not p.items:
            per_pass = self.world_size * self.micro_batch
            p.check(
                self.global_batch % per_pass == 0,
                f"global_batch: {self.global_batch} is not divisible by world_size x micro_batch = "
                f"{self.world_size} x {self.micro_batch} = {per_pass}",
            )
        p.raise_if_any()

    @property
    def grad_accum(self) -> int:
        """Micro-batches per rank per optimizer step."""
        return self.global_batch // (self.world_size * self.micro_batch)

    @property
    def per_rank(self) -> int:
        """Samples of the global batch that belong to one rank."""
        return self.global_batch // self.world_size
