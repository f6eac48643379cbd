"""How many samples of each category go into one global batch (docs/design.md §7).

``stratified``: each category's quota ``q = p * B`` is split into ``floor(q)`` plus a fraction. The
``r = B - sum(floor(q))`` leftover seats go to the categories whose fraction plus carried remainder is
largest, and each category carries ``fraction - (seat given)`` to the next step. So every batch is
exact up to rounding (``count`` is ``floor(q)`` or ``ceil(q)``, and exactly ``q`` when ``q`` is an
integer), and the cumulative count of a category differs from the sum of its quotas by exactly minus
its carry, which stays bounded (below 1 in our property tests) even when the weights change. Only
categories with a positive fraction can receive a leftover seat, so a category with weight 0 is never
drawn; its carry is kept, frozen, until its weight is positive again.

``random``: a multinomial draw of B over p from a generator seeded by (seed, step) alone, so the
counts of step s do not depend on how many steps were planned before it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Quotas are rounded to this many decimals before floor/fraction: p = 0.3 gives 0.3 * 10 =
# 3.0000000000000004, and without rounding a spurious fraction of 4e-16 would compete for a seat.
QUOTA_DECIMALS = 9
TAG_COUNTS = 2


@functools.lru_cache(maxsize=256)
def _quotas(p: tuple[float, ...], batch: int) -> tuple[tuple[float, ...], tuple[int, ...], tuple[float, ...]]:
    quotas = tuple(round(pi * batch, QUOTA_DECIMALS) for pi in p)
    floors = tuple(math.floor(q) for q in quotas)
    return quotas, floors, tuple(q - c for q, c in zip(quotas, floors, strict=True))


def stratified_counts(p: list[float], batch: int, carry: list[float]) -> tuple[list[int], list[float]]:
    """Counts per category (summing to ``batch``) and the new carried remainders."""
    quotas, floors, fractions = _quotas(tuple(p), batch)
    counts = list(floors)
    leftover = batch - sum(counts)
    new_carry = [c + f if f > 0 else c for c, f in zip(carry, fractions, strict=True)]
    if leftover > 0:
        candidates = [i for i, f in enumerate(fractions) if f > 0]
        # Ties go to the earlier category so the result is a pure function of the inputs.
        candidates.sort(key=lambda i: (-(carry[i] + fractions[i]), i))
        if len(candidates) < leftover:  # only reachable through a float pathology; fail loudly
            raise RuntimeError(f"cannot place {leftover} leftover seats among quotas {quotas}")
        for i in candidates[:leftover]:
            counts[i] += 1
            new_carry[i] -= 1.0
    elif leftover < 0:
        raise RuntimeError(f"quotas {quotas} exceed the batch of {batch}")
    return counts, new_carry


def seeded_rng(*key: int) -> np.random.Generator:
    """A generator that depends on ``key`` only (independent streams for different keys)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def random_counts(p: list[float], batch: int, seed: int, step: int) -> list[int]:
    """Multinomial counts of ``batch`` over ``p`` from a generator seeded by (seed, step)."""
    rng = seeded_rng(seed, TAG_COUNTS, step)
    return [int(c) for c in rng.multinomial(batch, np.asarray(p, dtype=np.float64))]
