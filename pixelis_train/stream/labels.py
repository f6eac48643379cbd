"""Which training samples a category label stands for: the split's own labels, or shuffled ones.

The ``shuffled`` curriculum baseline keeps the pacing and weights of ``fixed`` but makes "easy first"
"random first": the category labels of the training samples are permuted per sample. All training
samples of the split are pooled (simple, then medium, then hard, in file order), every one gets the
stable 64-bit hash of ``sample_id`` salted with the seed (``pixelis_data/split/hashing.py``: FNV-1a 64
+ fmix64, the same algorithm as the eval hold-out, reproducible anywhere), and the pool sorted by that
hash is cut into runs of the true category sizes: the first ``n_simple`` become 'simple', and so on.

So the category sizes stay the same and every training sample is in exactly one shuffled category;
which one depends only on (seed, sample_id), not on its true label or its position in the files. A
different seed gives a different assignment. The eval set is not touched: it keeps its true labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from pixelis_data.schema import CATEGORIES
from pixelis_data.split.hashing import hash_sample_ids
from pixelis_train.stream.plan import IndexBatch
from pixelis_train.stream.split_files import ID_COLUMN, SplitFiles

SHUFFLE_SALT = "pixelis-shuffled-labels"


def shuffle_salt(seed: int) -> str:
    """The hash salt of the label permutation of ``seed``."""
    return f"{SHUFFLE_SALT}:{seed}"


def shuffled_assignment(ids: Sequence[pa.Array | pa.ChunkedArray], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per shuffled category (in the order of ``ids``): the true category code (int8) and row (int64)
    of each of its members, sorted by (true category, row).

    ``ids[k]`` are the sample ids of true category k; shuffled category k gets ``len(ids[k])`` members.
    """
    sizes = [len(a) for a in ids]
    pool = pa.chunked_array(
        [chunk.cast(pa.large_string()) for a in ids for chunk in getattr(a, "chunks", [a])], type=pa.large_string()
    )
    code = np.repeat(np.arange(len(ids), dtype=np.int8), sizes)
    row = np.concatenate([np.arange(n, dtype=np.int64) for n in sizes]) if ids else np.zeros(0, np.int64)
    if len(pool):
        h = hash_sample_ids(pl.Series(ID_COLUMN, pool), shuffle_salt(seed))
        order = np.argsort(h, kind="stable")  # stable: equal hashes (duplicate ids) keep pool order
    else:
        order = np.zeros(0, dtype=np.int64)
    out, start = [], 0
    for n in sizes:
        members = np.sort(order[start : start + n])  # pool order: file order within each true category
        out.append((code[members], row[members]))
        start += n
    return out


@dataclass(frozen=True)
class TrainCategory:
    """One training category as the stream sees it: its rows, drawable rows, and a name for messages."""

    name: str
    n_rows: int
    n_drawable: int
    """Rows with sampling_weight > 0 (one epoch's length)."""
    label: str
    """What the category is made of, for error messages (e.g. 'hard.arrow')."""


def split_categories(files: SplitFiles) -> dict[str, TrainCategory]:
    """The split's own training categories: one per category file."""
    return {name: TrainCategory(name, f.n_rows, f.n_drawable, f.label) for name, f in files.categories.items()}


class ShuffledLabels:
    """The shuffled categories of a split (seeded): sizes, sampling weights, and the way back to the files."""

    def __init__(self, files: SplitFiles, seed: int) -> None:
        self.seed = seed
        ids = [files.categories[c].table.column(ID_COLUMN) for c in CATEGORIES]
        self.members = shuffled_assignment(ids, seed)
        true_weights = [files.weights(c) for c in CATEGORIES]
        self._weights: list[np.ndarray] = []
        for code, row in self.members:
            w = np.empty(len(row), dtype=np.float64)
            for k in range(len(CATEGORIES)):
                mask = code == k
                w[mask] = true_weights[k][row[mask]]
            self._weights.append(w)
        self.categories = {
            name: TrainCategory(
                name,
                len(self._weights[c]),
                int(np.count_nonzero(self._weights[c])),
                f"shuffled {name!r} (seed {seed})",
            )
            for c, name in enumerate(CATEGORIES)
        }

    def weights(self, category: int) -> np.ndarray:
        """sampling_weight of the members of shuffled category ``category`` (a code into CATEGORIES)."""
        return self._weights[category]

    def to_files(self, batch: IndexBatch) -> IndexBatch:
        """The same samples as (true category, row in its file): what ``fetch_rows`` reads."""
        category = np.empty(len(batch), dtype=np.int8)
        row = np.empty(len(batch), dtype=np.int64)
        for c in np.unique(batch.category).tolist():
            mask = batch.category == c
            code, source = self.members[c]
            rows = batch.row[mask]
            bad = (rows < 0) | (rows >= len(code))
            if bad.any():
                raise ValueError(
                    f"fetch: row {int(rows[bad][0])} is out of range for shuffled {CATEGORIES[c]!r} ({len(code)} rows)"
                )
            category[mask] = code[rows]
            row[mask] = source[rows]
        return IndexBatch(category, row)
