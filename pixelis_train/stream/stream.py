"""``CurriculumStream``: the deterministic, resumable, rank-aware index planner over a split directory.

The global batch of step s is a pure function of (seed, s, the weights in force, per-category epoch and
cursor, carried remainders); every rank computes it and keeps its own slice. Nothing is drawn ahead:
``next_step`` draws exactly the step's samples, so a ``set_weights`` after step s shapes step s + 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pixelis_data.schema import CATEGORIES
from pixelis_train.stream.allocation import random_counts, stratified_counts
from pixelis_train.stream.config import StreamConfig
from pixelis_train.stream.labels import ShuffledLabels, TrainCategory, split_categories
from pixelis_train.stream.permutation import PermutationCache
from pixelis_train.stream.plan import IndexBatch, StepPlan, interleave, slice_for_rank
from pixelis_train.stream.split_files import CATEGORY_COLUMN, SplitFiles, check_weights

STATE_VERSION = 1
_CATEGORY_NAMES = pa.array(CATEGORIES, pa.large_string())


class StreamStateError(ValueError):
    """A stream state that does not belong to this split directory or configuration."""


class CurriculumStream:
    """Plans each optimizer step's global batch from the memory-mapped category files (docs/design.md §7)."""

    def __init__(self, split_dir: str | Path | SplitFiles, cfg: StreamConfig, *, weights: dict[str, float]) -> None:
        self.cfg = cfg
        self.files = split_dir if isinstance(split_dir, SplitFiles) else SplitFiles(split_dir)
        # shuffle_labels: a category label stands for a seeded random part of the pooled training samples
        self.labels = ShuffledLabels(self.files, cfg.seed) if cfg.shuffle_labels else None
        self.train_categories = self.labels.categories if self.labels is not None else split_categories(self.files)
        self._p = check_weights(weights, self.train_categories)
        self._raw = self._raw_weights(weights)
        self._step = 0
        self._epoch = [0] * len(CATEGORIES)
        self._cursor = [0] * len(CATEGORIES)
        self._carry = [0.0] * len(CATEGORIES)
        self._perms = PermutationCache(cfg.seed, self._category_weights)

    def _category_weights(self, c: int) -> np.ndarray:
        return self.labels.weights(c) if self.labels is not None else self.files.weights(CATEGORIES[c])

    # ---- read-only views -------------------------------------------------------------------------
    @property
    def split_dir(self) -> Path:
        return self.files.split_dir

    @property
    def step(self) -> int:
        """The step the next ``next_step()`` plans (= steps planned so far)."""
        return self._step

    @property
    def weights(self) -> dict[str, float]:
        """Normalised weights the next step will be planned with."""
        return dict(zip(CATEGORIES, self._p_list(), strict=True))

    @property
    def category_sizes(self) -> dict[str, int]:
        """Rows per training category (per category file; the same sizes with shuffled labels)."""
        return {name: f.n_rows for name, f in self.train_categories.items()}

    @property
    def epoch_sizes(self) -> dict[str, int]:
        """Rows per training category that can be drawn (sampling_weight > 0): one epoch's length."""
        return {name: f.n_drawable for name, f in self.train_categories.items()}

    @property
    def epochs(self) -> dict[str, int]:
        """Current epoch of each category (it advances when its permutation is used up)."""
        return dict(zip(CATEGORIES, self._epoch, strict=True))

    def _p_list(self) -> list[float]:
        return list(self._p.values())

    # ---- planning --------------------------------------------------------------------------------
    def set_weights(self, weights: dict[str, float]) -> None:
        """Use ``weights`` (normalised to sum 1; missing categories = 0) from the next planned step on."""
        self._p = check_weights(weights, self.train_categories)
        self._raw = self._raw_weights(weights)

    @staticmethod
    def _raw_weights(weights: dict[str, float]) -> dict[str, float]:
        # Saved un-normalised: normalising again on load gives bit-identical floats, a re-normalised
        # normalised vector would not (0.2/2.1 renormalised differs in the last bit).
        return {name: float(weights.get(name, 0.0)) for name in CATEGORIES}

    def _draw(self, c: int, k: int) -> np.ndarray:
        """The next ``k`` rows of category ``c``, crossing into new epochs as needed."""
        perm = self._perms.get(c, self._epoch[c])
        start = self._cursor[c]
        if start + k < len(perm):  # the common case: inside the current epoch
            self._cursor[c] = start + k
            return perm[start : start + k]
        parts = []
        while k > 0:
            perm = self._perms.get(c, self._epoch[c])
            start = self._cursor[c]
            take = min(k, len(perm) - start)
            parts.append(perm[start : start + take])
            self._cursor[c] = start + take
            k -= take
            if self._cursor[c] == len(perm):
                self._epoch[c] += 1
                self._cursor[c] = 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _counts(self) -> list[int]:
        p = self._p_list()
        if self.cfg.mode == "random":
            return random_counts(p, self.cfg.global_batch, self.cfg.seed, self._step)
        counts, self._carry = stratified_counts(p, self.cfg.global_batch, self._carry)
        return counts

    def next_step(self) -> StepPlan:
        """Plan the next optimizer step with the weights in force now, and advance the stream."""
        weights = self.weights
        counts = self._counts()
        empty = np.zeros(0, dtype=np.int64)
        parts = [self._draw(c, k) if k else empty for c, k in enumerate(counts)]
        batch = interleave(parts)
        mine, micro = slice_for_rank(batch, self.cfg.world_size, self.cfg.rank, self.cfg.micro_batch)
        plan = StepPlan(
            step=self._step,
            weights=weights,
            counts=dict(zip(CATEGORIES, counts, strict=True)),
            global_batch=batch,
            rank_batch=mine,
            micro_batches=micro,
        )
        self._step += 1
        return plan

    # ---- rows ------------------------------------------------------------------------------------
    def fetch(self, batch: IndexBatch, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of ``batch``, in batch order, with a ``category`` column (zero-copy reads + one gather).

        With shuffled labels ``batch`` holds (shuffled category, member) pairs and ``category`` is the
        shuffled label the sample was drawn under; the rows are read from their true category files.
        """
        return fetch_training_rows(self.files, self.labels, batch, columns)

    def eval_table(self) -> pa.Table:
        """The held-out ``eval.arrow`` (memory-mapped)."""
        return self.files.eval_table()

    # ---- checkpointing ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A small JSON-serialisable dict; ``load_state_dict`` of it continues the exact same sequence.

        ``weights`` are the weights as last given to ``set_weights`` (not normalised).
        """
        return {
            "version": STATE_VERSION,
            "step": self._step,
            "seed": self.cfg.seed,
            "mode": self.cfg.mode,
            "global_batch": self.cfg.global_batch,
            "weights": dict(self._raw),
            "epoch": dict(zip(CATEGORIES, self._epoch, strict=True)),
            "cursor": dict(zip(CATEGORIES, self._cursor, strict=True)),
            "carry": dict(zip(CATEGORIES, self._carry, strict=True)),
            "split": self.files.fingerprint(),
            "labels": self._labels_state(),
        }

    def _labels_state(self) -> dict[str, Any]:
        return {"shuffled": self.labels is not None, "seed": self.cfg.seed if self.labels is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``; a state from another split, seed, mode or global batch is an error."""
        problems = validate_state(state, self.cfg, self.files, self.train_categories)
        if problems:
            raise StreamStateError("cannot resume the stream: " + "; ".join(problems))
        self._p = check_weights(state["weights"], self.train_categories)
        self._raw = self._raw_weights(state["weights"])
        self._step = int(state["step"])
        self._epoch = [int(state["epoch"][name]) for name in CATEGORIES]
        self._cursor = [int(state["cursor"][name]) for name in CATEGORIES]
        self._carry = [float(state["carry"][name]) for name in CATEGORIES]
        self._perms.clear()


def validate_state(
    state: Any, cfg: StreamConfig, files: SplitFiles, categories: Mapping[str, TrainCategory] | None = None
) -> list[str]:
    """Every reason ``state`` cannot be loaded into a stream with ``cfg`` over ``files`` (and its training
    ``categories``: the split's own by default)."""
    categories = categories if categories is not None else split_categories(files)
    if not isinstance(state, dict):
        return [f"state must be a dict (got {type(state).__name__})"]
    required = ("version", "step", "seed", "mode", "global_batch", "weights", "epoch", "cursor", "carry", "split")
    missing = [k for k in required if k not in state]
    if missing:
        return [f"state is missing {', '.join(missing)}"]
    problems = []
    if state["version"] != STATE_VERSION:
        problems.append(f"state version {state['version']!r} is not {STATE_VERSION}")
    for key in ("seed", "mode", "global_batch"):
        if state[key] != getattr(cfg, key):
            problems.append(f"{key} was {state[key]!r} in the checkpoint but is {getattr(cfg, key)!r} now")
    # states from before shuffled labels existed have no "labels": the split's own labels
    then_labels = state.get("labels", {"shuffled": False, "seed": None})
    now_labels = {"shuffled": cfg.shuffle_labels, "seed": cfg.seed if cfg.shuffle_labels else None}
    if then_labels != now_labels:
        problems.append(f"labels were {then_labels} in the checkpoint but are {now_labels} now")
    if not isinstance(state["step"], int) or state["step"] < 0:
        problems.append(f"step must be an integer >= 0 (got {state['step']!r})")
    current = files.fingerprint()
    saved = state["split"]
    for name in CATEGORIES:
        then, now = (saved.get(name) if isinstance(saved, dict) else None), current[name]
        if then != now:
            problems.append(
                f"category {name!r} of {files.split_dir} differs from the checkpoint's split "
                f"(checkpoint: {then}, now: {now})"
            )
    for key in ("epoch", "cursor", "carry"):
        table = state[key]
        if not isinstance(table, dict) or any(name not in table for name in CATEGORIES):
            problems.append(f"{key} must map every category {list(CATEGORIES)} (got {table!r})")
    if problems:
        return problems
    for name in CATEGORIES:
        epoch, cursor, n = state["epoch"][name], state["cursor"][name], categories[name].n_drawable
        if not isinstance(epoch, int) or epoch < 0:
            problems.append(f"epoch of {name!r} must be an integer >= 0 (got {epoch!r})")
        if not isinstance(cursor, int) or not (cursor == 0 or 0 <= cursor < n):
            problems.append(f"cursor of {name!r} must be in [0, {n}) (got {cursor!r})")
    return problems


def fetch_training_rows(
    files: SplitFiles, labels: ShuffledLabels | None, batch: IndexBatch, columns: Sequence[str] | None = None
) -> pa.Table:
    """:func:`fetch_rows` of a batch of training keys: with shuffled ``labels`` the keys are mapped back
    to the files, and the ``category`` column holds the shuffled label."""
    if labels is None:
        return fetch_rows(files, batch, columns)
    if not len(batch):
        raise ValueError("fetch: the batch is empty")
    table = fetch_rows(files, labels.to_files(batch), columns)
    index = table.schema.get_field_index(CATEGORY_COLUMN)
    return table.set_column(index, CATEGORY_COLUMN, _CATEGORY_NAMES.take(pa.array(batch.category)))


def fetch_rows(files: SplitFiles, batch: IndexBatch, columns: Sequence[str] | None = None) -> pa.Table:
    """Gather ``batch``'s rows from the category files, in batch order, with ``category`` as last column.

    One zero-copy ``slice`` per row, then a single copy of just these rows (``combine_chunks``). Not
    ``Table.take``: on a multi-chunk column of nested type (the trajectory, in files written in record
    batches) pyarrow concatenates the whole column first, which costs O(file size) per call.
    """
    if not len(batch):
        raise ValueError("fetch: the batch is empty")
    sources = files.views(columns)
    sizes = np.array([t.num_rows for t in sources])
    bad = (batch.row < 0) | (batch.row >= sizes[batch.category])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        c = int(batch.category[i])
        raise ValueError(f"fetch: row {int(batch.row[i])} is out of range for {CATEGORIES[c]!r} ({sizes[c]} rows)")
    pieces = [sources[c].slice(r, 1) for c, r in zip(batch.category.tolist(), batch.row.tolist(), strict=True)]
    try:
        table = pa.concat_tables(pieces).combine_chunks()
    except pa.ArrowInvalid as err:
        raise ValueError(f"fetch: the category files of {files.split_dir} have different schemas ({err})") from None
    return table.append_column(CATEGORY_COLUMN, _CATEGORY_NAMES.take(pa.array(batch.category)))
