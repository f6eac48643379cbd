"""The sample_ids read so far, as 128-bit hashes in sorted numpy arrays: 16 bytes per id, not a Python string.

A Python set of 1,000,000 ids held about 100 MiB (string objects and set slots) and made the memory of
`pixelis score` grow with the file; two independent 64-bit hashes per id cost 16 MiB and one
``searchsorted`` per batch. Two different ids are taken for the same one only if both hashes collide
(odds about n^2 / 2^129: 1e-27 for a million ids).
"""

from __future__ import annotations

import numpy as np
import polars as pl

_SEEDS = (0x5EED_0001, 0x5EED_0002)


def _hashes(ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    return tuple(ids.hash(seed=s).to_numpy() for s in _SEEDS)  # type: ignore[return-value]


class SeenIds:
    """A growing set of sample_ids: ``earlier(ids)`` tells which were added before, ``add(ids)`` adds them."""

    def __init__(self) -> None:
        self._first = np.empty(0, dtype=np.uint64)  # sorted
        self._second = np.empty(0, dtype=np.uint64)  # aligned with _first

    def __len__(self) -> int:
        return len(self._first)

    def earlier(self, ids: pl.Series) -> pl.Series:
        """Boolean Series: whether each id was added before (ids within ``ids`` are not compared)."""
        first, second = _hashes(ids)
        lo = np.searchsorted(self._first, first, side="left")
        hi = np.searchsorted(self._first, first, side="right")
        # a first hash seen once (nearly every hit): compare its second hash, vectorised
        once = hi - lo == 1
        found = np.zeros(len(first), dtype=bool)
        found[once] = self._second[lo[once]] == second[once]
        for i in np.flatnonzero(hi - lo > 1):  # one first hash for several ids
            found[i] = bool(np.any(self._second[lo[i] : hi[i]] == second[i]))
        return pl.Series(found, dtype=pl.Boolean)

    def add(self, ids: pl.Series) -> None:
        """Add ``ids``: the batch is sorted, then inserted in one pass (no sort of everything seen)."""
        first, second = _hashes(ids)
        order = np.argsort(first, kind="stable")
        first, second = first[order], second[order]
        at = np.searchsorted(self._first, first, side="right")
        self._first = np.insert(self._first, at, first)
        self._second = np.insert(self._second, at, second)
