"""Rank statistics for ``pixelis calibrate``: average ranks, Spearman, a seeded percentile bootstrap, NNLS.

numpy only (scipy is not a dependency); each function is small enough to check against its definition.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, ties sharing their average rank (scipy's ``rankdata(method='average')``)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2, counts)
    return ranks


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """(average rank - 1/2) / n: the share of values below, plus half of those equal (itself included)."""
    return (average_ranks(values) - 0.5) / len(values)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson of the average ranks; NaN when either side is constant.

    Pairs where ``x`` is NaN (a null factor value) are left out.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = ~np.isnan(x)
    if keep.sum() < 2:
        return float("nan")
    return _pearson(average_ranks(x[keep]), average_ranks(y[keep]))


def bootstrap_spearman(
    columns: np.ndarray, y: np.ndarray, n_boot: int, seed: int, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Spearman of every column of ``columns`` (n x k) with ``y`` on ``n_boot`` resamples: an (n_boot x k) array.

    Replicate b draws ``rng.integers(0, n, size=n)`` from ``np.random.default_rng(seed)``, in order, and
    uses the same rows for every column (paired replicates), each computed like :func:`spearman` (NaN where
    a resample makes a side constant).
    """
    columns = np.asarray(columns, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = len(y)
    out = np.empty((n_boot, columns.shape[1]), dtype=np.float64)
    complete = ~np.isnan(columns).any(axis=0)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        ry = average_ranks(y[idx])
        for k in range(columns.shape[1]):
            # a column without NaN shares the ranks of y; one with NaN is ranked on its own pairs
            column = columns[idx, k]
            out[b, k] = _pearson(average_ranks(column), ry) if complete[k] else spearman(column, y[idx])
        if progress is not None:
            progress(1)
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of the defined (non-NaN) replicates; NaNs when none is defined."""
    defined = replicates[~np.isnan(replicates)]
    if defined.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """Non-negative least squares, min ||a x - b|| subject to x >= 0 (Lawson & Hanson 1974, active set).

    Variables enter the passive set P by largest gradient ``w = a^T (b - a x)``; the inner loop steps back
    along the segment to the unconstrained solution on P until every passive variable is positive.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = a.shape[1]
    tol = 10 * np.finfo(np.float64).eps * max(a.shape) * max(np.abs(a).sum(axis=0).max(initial=0.0), 1.0)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ (b - a @ x)
    for _ in range(max_iter or 3 * n + 10):
        if passive.all() or w[~passive].max() <= tol:
            break
        passive[np.argmax(np.where(passive, -np.inf, w))] = True
        while True:
            s = np.zeros(n)
            s[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if s[passive].min() > tol:
                break
            blocking = passive & (s <= tol)
            gap = x[blocking] - s[blocking]
            # a variable already at 0 blocks at once (alpha 0): it leaves P instead of dividing by 0
            alpha = np.min(np.where(gap > 0, x[blocking] / np.where(gap > 0, gap, 1.0), 0.0))
            x = x + alpha * (s - x)
            passive &= x > tol
            x[~passive] = 0.0
        x = s
        w = a.T @ (b - a @ x)
    return x
