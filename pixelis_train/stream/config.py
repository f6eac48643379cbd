"""``StreamConfig``: the shape of the global batch and how it is cut into ranks and micro-batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pixelis_core.config_io import Problems, is_int

StreamMode = Literal["stratified", "random"]
"""How the per-category counts of a batch are drawn; also the type of ``TrainConfig.data.stream_mode``."""
MODES: tuple[str, ...] = get_args(StreamMode)


@dataclass(frozen=True)
class StreamConfig:
    """Global batch geometry, seed and per-category count mode of the curriculum stream (docs/design.md §7)."""

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
    mode: StreamMode = "stratified"
    """Per-category counts: ``stratified`` (largest remainder with carried remainders) or ``random``
    (multinomial per step)."""
    shuffle_labels: bool = False
    """Permute the training samples' category labels by a hash of (seed, sample_id), keeping the category
    sizes (the 'shuffled' curriculum baseline); the eval set keeps its labels."""

    def __post_init__(self) -> None:
        p = Problems()
        p.integer("global_batch", self.global_batch, 1)
        p.integer("micro_batch", self.micro_batch, 1)
        if p.integer("world_size", self.world_size, 1):  # the rank's bound is only meaningful for a valid one
            p.check(
                is_int(self.rank) and 0 <= self.rank < self.world_size,
                f"rank: must be an integer in [0, world_size={self.world_size}) (got {self.rank!r})",
            )
        p.integer("seed", self.seed, 0)
        p.literals(self)
        p.check(
            isinstance(self.shuffle_labels, bool),
            f"shuffle_labels: must be true or false (got {self.shuffle_labels!r})",
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
