"""Batches packed by length under a token budget (torch-free).

Sequences are sorted by token length and cut into consecutive batches whose padded size (count x
longest) stays within the budget, so neighbours in a batch have nearly the same length and padding is
small. The batching never changes a sample's numbers (``scoring.sequence_nll``), only the speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_TOKEN_BUDGET = 16384
"""Padded tokens per forward pass: batch size x longest sequence."""


def pack_by_length(lengths: Sequence[int], token_budget: int) -> list[np.ndarray]:
    """Indices of ``lengths`` grouped into batches, shortest first; ties keep the input order.

    Every batch has ``len(batch) x max(length) <= token_budget``, except a single sequence longer than
    the budget, which gets a batch of its own.
    """
    if token_budget < 1:
        raise ValueError(f"token_budget: must be >= 1 (got {token_budget})")
    sizes = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    # ascending order: the sequence being added is the longest of its batch
    for k in range(1, len(order) + 1):
        if k == len(order) or (k - start + 1) * sizes[order[k]] > token_budget:
            batches.append(order[start:k])
            start = k
    return batches


@dataclass(frozen=True)
class Padding:
    """Real and padded token counts of a batching."""

    real: int
    padded: int

    @property
    def overhead(self) -> float:
        """Share of the padded tokens that are padding."""
        return 1 - self.real / self.padded if self.padded else 0.0


def padding_of(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> Padding:
    """How much of ``batches`` (index arrays into ``lengths``) is padding."""
    sizes = np.asarray(lengths, dtype=np.int64)
    real = sum(int(sizes[b].sum()) for b in batches)
    padded = sum(len(b) * int(sizes[b].max()) for b in batches if len(b))
    return Padding(real, padded)
