"""Per-epoch, weight-ordered permutations of one category (docs/design.md §7).

The order of an epoch is weighted sampling without replacement (Efraimidis-Spirakis): every row with
sampling_weight w > 0 gets the key ``E / w`` with ``E ~ Exponential(1)`` (the same order as ``u^(1/w)``
descending), and the epoch visits rows by ascending key. So the first draw of an epoch is row i with
probability w_i / sum(w), the next one likewise among the rest, and so on: heavier rows come earlier,
and a run that stops part-way through an epoch sees them more often. Over a whole epoch every drawable
row appears exactly once. Rows with weight 0 get no key and are never drawn.

The permutation depends on (seed, category, epoch) only, so it can be rebuilt from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pixelis_train.stream.allocation import seeded_rng

TAG_PERMUTATION = 1


def weighted_permutation(weights: np.ndarray, seed: int, category: int, epoch: int) -> np.ndarray:
    """Row indices (int64) of the rows with weight > 0, in the order epoch ``epoch`` visits them."""
    rows = np.flatnonzero(weights > 0)
    rng = seeded_rng(seed, TAG_PERMUTATION, category, epoch)
    keys = rng.standard_exponential(len(rows)) / weights[rows]
    # stable: rows with equal keys (probability ~0) keep file order, so the result is platform-independent
    return rows[np.argsort(keys, kind="stable")].astype(np.int64, copy=False)


class PermutationCache:
    """Keeps the permutation of the current epoch of each category (one array per category).

    A step that crosses an epoch boundary asks for epoch e, then e + 1; e is dropped then, so memory
    stays at one permutation (8 bytes per drawable row) per category.
    """

    def __init__(self, seed: int, weights_of: Callable[[int], np.ndarray]) -> None:
        self._seed = seed
        self._weights_of = weights_of
        self._cache: dict[int, tuple[int, np.ndarray]] = {}

    def get(self, category: int, epoch: int) -> np.ndarray:
        hit = self._cache.get(category)
        if hit is not None and hit[0] == epoch:
            return hit[1]
        perm = weighted_permutation(self._weights_of(category), self._seed, category, epoch)
        self._cache[category] = (epoch, perm)
        return perm

    def clear(self) -> None:
        self._cache.clear()
