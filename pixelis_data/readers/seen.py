"""The sample_ids read so far, as 128-bit hashes in sorted numpy arrays: 16 bytes per id, not a Python string.

A Python set of 1,000,000 ids held about 100 MiB (string objects and set slots) and made the memory of
`pixelis score` grow with the file; two independent 64-bit hashes per id cost 16 MiB. Two different ids
are taken for the same one only if both hashes collide (odds about n^2 / 2^129: 1e-27 for a million ids).

The hashes are kept in a few sorted runs, each at least twice as long as the next (like the levels of
an LSM tree): a batch becomes a run of its own and merges with the runs no longer than it, so each hash
is copied O(log n) times in all, where inserting every batch into one sorted array copied the whole
array per batch (quadratic in the file). A lookup searches every run (about log2(n / batch) of them).

With the C extension (``fastpath.py``) the pairs live in its open-addressing table instead (``IdSet``):
one probe or two per id: 0.14 s for 1,000,000 ids in batches of 8,192, hashing included, where the
runs take 0.48 s. There, ids of one batch
are told apart by their hashes too (the runs compare their strings), and the lowest bit of the first
hash is not compared: 127 bits in all, odds of a false duplicate about 1e-26 for a million ids.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pixelis_data.readers.fastpath import id_set

_SEEDS = (0x5EED_0001, 0x5EED_0002)
Run = tuple[np.ndarray, np.ndarray]
"""(first hashes, sorted; second hashes, aligned with them)."""


def _hashes(ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    return tuple(ids.hash(seed=s).to_numpy() for s in _SEEDS)  # type: ignore[return-value]


def _merged(a: Run, b: Run) -> Run:
    """One sorted run of the hash pairs of ``a`` and ``b`` (``b`` sorted too; a few passes over each)."""
    at = np.searchsorted(a[0], b[0], side="right") + np.arange(len(b[0]))  # where b's pairs land
    from_a = np.ones(len(a[0]) + len(b[0]), dtype=bool)
    from_a[at] = False
    merged = []
    for x, y in zip(a, b, strict=True):
        out = np.empty(len(from_a), dtype=x.dtype)
        out[at], out[from_a] = y, x
        merged.append(out)
    return merged[0], merged[1]


class SeenIds:
    """A growing set of sample_ids: ``earlier(ids)`` tells which were added before, ``add(ids)`` adds them."""

    def __init__(self) -> None:
        self._runs: list[Run] = []  # longest first; each at least twice as long as the next
        self._table = id_set()  # the C table, or None (then the runs)

    def __len__(self) -> int:
        if self._table is not None:
            return len(self._table)
        return sum(len(first) for first, _ in self._runs)

    def earlier(self, ids: pl.Series) -> pl.Series:
        """Boolean Series: whether each id was added before (ids within ``ids`` are not compared)."""
        first, second = _hashes(ids)
        if self._table is not None:
            return pl.Series(np.frombuffer(self._table.contains(first, second), np.bool_), dtype=pl.Boolean)
        return pl.Series(self._found(first, second), dtype=pl.Boolean)

    def add(self, ids: pl.Series) -> None:
        """Add ``ids`` (each once)."""
        self.update(ids)

    def update(self, ids: pl.Series) -> pl.Series:
        """Boolean Series: whether each id repeats one added before or one earlier in ``ids``; adds the others.

        ``earlier`` and ``add`` in one, hashing each id once.
        """
        first, second = _hashes(ids)
        if self._table is not None:
            return pl.Series(np.frombuffer(self._table.update(first, second), np.bool_), dtype=pl.Boolean)
        repeated = self._found(first, second) | ~ids.is_first_distinct().to_numpy()
        self._insert(first[~repeated], second[~repeated])
        return pl.Series(repeated, dtype=pl.Boolean)

    def _found(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        # sorted queries walk each sorted run in order: 5x faster than random ones at a million ids
        order = np.argsort(first, kind="stable")
        first_sorted, second_sorted = first[order], second[order]
        found_sorted = np.zeros(len(first), dtype=bool)
        for run_first, run_second in self._runs:
            lo = np.searchsorted(run_first, first_sorted, side="left")
            hit = np.zeros(len(first), dtype=bool)
            inside = np.flatnonzero(lo < len(run_first))
            hit[inside] = run_first[lo[inside]] == first_sorted[inside]
            # the first hash found: compare the second hash of its first entry, vectorised
            match = hit.copy()
            match[hit] = run_second[lo[hit]] == second_sorted[hit]
            found_sorted |= match
            for i in np.flatnonzero(hit & ~match):  # rare: the first hash has more entries after that one
                j = lo[i] + 1
                while j < len(run_first) and run_first[j] == first_sorted[i] and not found_sorted[i]:
                    found_sorted[i] = run_second[j] == second_sorted[i]
                    j += 1
        found = np.empty(len(first), dtype=bool)
        found[order] = found_sorted
        return found

    def _insert(self, first: np.ndarray, second: np.ndarray) -> None:
        """Add the hash pairs as a sorted run, merged with the runs no more than twice its length."""
        if len(first) == 0:
            return
        order = np.argsort(first, kind="stable")
        run = (first[order], second[order])
        while self._runs and len(self._runs[-1][0]) <= 2 * len(run[0]):
            run = _merged(self._runs.pop(), run)
        self._runs.append(run)
