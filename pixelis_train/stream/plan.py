"""What one optimizer step consumes: the global batch, this rank's slice and its micro-batches.

Order of the global batch: categories are interleaved smoothly (the j-th of n samples of a category
sits at key (j + 0.5) / n, ties in category order), so every contiguous piece of the batch, and hence
every rank's slice and every micro-batch, holds each category within about one sample of its share.
Rank r keeps the contiguous slice ``[r * B / world_size, (r + 1) * B / world_size)``, cut into
``grad_accum`` consecutive micro-batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pixelis_data.schema import CATEGORIES


class IndexBatch:
    """Samples as two parallel arrays: ``category`` (int8 code into ``CATEGORIES``) and ``row`` (int64)."""

    __slots__ = ("category", "row")

    # a plain class, not a frozen dataclass: planning creates one per micro-batch and that __init__ is hot
    def __init__(self, category: np.ndarray, row: np.ndarray) -> None:
        self.category = category
        self.row = row

    def __repr__(self) -> str:
        return f"IndexBatch(category={self.category!r}, row={self.row!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IndexBatch)
            and np.array_equal(self.category, other.category)
            and np.array_equal(self.row, other.row)
        )

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.row)

    def to_keys(self) -> list[tuple[str, int]]:
        """``[(category name, row), ...]`` in batch order: the keys of the torch dataset."""
        return [(CATEGORIES[c], r) for c, r in zip(self.category.tolist(), self.row.tolist(), strict=True)]

    def counts(self) -> dict[str, int]:
        """Samples per category name (every category listed)."""
        found = np.bincount(self.category, minlength=len(CATEGORIES))
        return {name: int(found[i]) for i, name in enumerate(CATEGORIES)}

    def __getitem__(self, item: slice) -> IndexBatch:
        return IndexBatch(self.category[item], self.row[item])

    @staticmethod
    def from_keys(keys: list[tuple[str, int]]) -> IndexBatch:
        """Inverse of :meth:`to_keys`; unknown category names are a ValueError."""
        codes = {name: i for i, name in enumerate(CATEGORIES)}
        try:
            category = np.array([codes[k[0]] for k in keys], dtype=np.int8)
        except KeyError as err:
            raise ValueError(f"unknown category {err.args[0]!r} in key (known: {list(CATEGORIES)})") from None
        return IndexBatch(category, np.array([int(k[1]) for k in keys], dtype=np.int64))


@dataclass(frozen=True)
class StepPlan:
    """Everything step ``step`` draws; identical on every rank except ``rank_batch`` / ``micro_batches``."""

    step: int
    weights: dict[str, float]
    """The normalised weights this step was planned with."""
    counts: dict[str, int]
    """Samples per category in the global batch."""
    global_batch: IndexBatch
    rank_batch: IndexBatch
    """This rank's slice of the global batch."""
    micro_batches: list[IndexBatch]
    """``rank_batch`` cut into ``grad_accum`` micro-batches of ``micro_batch`` samples."""


@functools.lru_cache(maxsize=4096)
def _interleave_order(counts: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Category codes and the gather order of the interleaved batch; depends on the counts only."""
    present = [(c, n) for c, n in enumerate(counts) if n]
    category = np.concatenate([np.full(n, c, dtype=np.int8) for c, n in present])
    keys = np.concatenate([(np.arange(n) + 0.5) / n for _, n in present])
    order = np.argsort(keys, kind="stable")
    category = category[order]
    category.flags.writeable = False  # shared between plans through the cache
    return category, order


def interleave(parts: list[np.ndarray]) -> IndexBatch:
    """Merge per-category row arrays (in ``CATEGORIES`` order) into one smoothly interleaved batch."""
    category, order = _interleave_order(tuple(len(rows) for rows in parts))
    return IndexBatch(category, np.concatenate(parts)[order])


def slice_for_rank(
    batch: IndexBatch, world_size: int, rank: int, micro_batch: int
) -> tuple[IndexBatch, list[IndexBatch]]:
    """This rank's contiguous slice of ``batch`` and its micro-batches."""
    per_rank = len(batch.row) // world_size
    lo = rank * per_rank
    cat, row = batch.category[lo : lo + per_rank], batch.row[lo : lo + per_rank]
    micro = [IndexBatch(cat[i : i + micro_batch], row[i : i + micro_batch]) for i in range(0, per_rank, micro_batch)]
    return IndexBatch(cat, row), micro
