"""PyTorch side of the stream: a map-style dataset keyed by (category, row) and a one-step batch sampler.

Planning stays in the main process: :class:`StepBatchSampler` asks the :class:`CurriculumStream` for a
plan and hands this rank's micro-batches (lists of keys) to the DataLoader; workers only gather rows by
key from the memory-mapped files and run the collate hook (e.g. the trainer's tokenizer).

Why weights are never stale: a DataLoader with workers pulls ``prefetch_factor x num_workers`` batches
from the sampler ahead of the training loop. A sampler that planned step after step would plan step
s + 1 before the loop has decided step s's weights. So one pass over the loader is exactly one
optimizer step: the sampler plans the step when the pass begins (``iter(loader)``), yields its
``grad_accum`` micro-batches and stops. Prefetching overlaps the micro-batches of the same step only,
and a ``stream.set_weights`` between two passes always reaches the next step. ``persistent_workers``
keeps the workers alive between passes, so a pass costs one handshake with them, not a process start.

    loader = make_loader(stream, collate_fn=tokenize, num_workers=2)
    for step in range(max_steps):
        for micro in loader:          # grad_accum micro-batches of step `step`
            ...                       # forward / backward
        optimizer.step()
        stream.set_weights(policy_weights)   # shapes step + 1
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from pixelis_train._deps import require
from pixelis_train.stream.labels import ShuffledLabels
from pixelis_train.stream.plan import IndexBatch, StepPlan
from pixelis_train.stream.split_files import SplitFiles
from pixelis_train.stream.stream import CurriculumStream, fetch_training_rows

torch = require("torch")
_data = require("torch.utils.data")

Key = tuple[str, int]


def collate_rows(rows: list[dict[str, Any]] | pa.Table) -> list[dict[str, Any]] | pa.Table:
    """Default collate hook: the micro-batch's rows unchanged (the trainer passes its tokenizer instead)."""
    return rows


class StreamDataset(_data.Dataset):
    """Rows of a split directory by key ``(category, row)`` (the stream's training categories: shuffled
    ones when the stream shuffles labels); opens the files lazily in each process.

    ``__getitems__`` fetches a whole micro-batch with one gather per category (the DataLoader calls it
    instead of ``__getitem__`` per key). With ``as_table`` the collate hook receives a ``pyarrow.Table``
    instead of a list of row dicts.
    """

    def __init__(
        self,
        split_dir: str | Path,
        *,
        columns: Sequence[str] | None = None,
        as_table: bool = False,
        shuffle_seed: int | None = None,
    ) -> None:
        self.split_dir = Path(split_dir)
        self.columns = list(columns) if columns is not None else None
        self.as_table = as_table
        self.shuffle_seed = shuffle_seed
        """Keys are (shuffled category, member) of this seed's label permutation; None: the split's labels."""
        self._files: SplitFiles | None = None
        self._labels: ShuffledLabels | None = None

    @classmethod
    def for_stream(cls, stream: CurriculumStream, **kwargs: Any) -> StreamDataset:
        """A dataset over the same files and labels as ``stream``, reusing its open mappings in this process."""
        shuffle_seed = stream.cfg.seed if stream.labels is not None else None
        ds = cls(stream.split_dir, shuffle_seed=shuffle_seed, **kwargs)
        ds._files, ds._labels = stream.files, stream.labels
        return ds

    def __getstate__(self) -> dict[str, Any]:
        # Workers re-open the memory maps (and rebuild the label permutation): pickling the tables would
        # copy every row into the worker.
        state = dict(self.__dict__)
        state["_files"] = state["_labels"] = None
        return state

    @property
    def files(self) -> SplitFiles:
        if self._files is None:
            self._files = SplitFiles(self.split_dir)
        return self._files

    @property
    def labels(self) -> ShuffledLabels | None:
        if self._labels is None and self.shuffle_seed is not None:
            self._labels = ShuffledLabels(self.files, self.shuffle_seed)
        return self._labels

    def __len__(self) -> int:
        return sum(f.n_rows for f in self.files.categories.values())

    def __getitems__(self, keys: list[Key]) -> list[dict[str, Any]] | pa.Table:
        table = fetch_training_rows(self.files, self.labels, IndexBatch.from_keys(keys), self.columns)
        return table if self.as_table else table.to_pylist()

    def __getitem__(self, key: Key) -> dict[str, Any]:
        return fetch_training_rows(self.files, self.labels, IndexBatch.from_keys([key]), self.columns).to_pylist()[0]


class StepBatchSampler(_data.Sampler):
    """Yields this rank's micro-batches (lists of keys) of ONE optimizer step per iteration.

    The step is planned lazily, at the first ``next()`` of a pass, i.e. when the DataLoader iterator is
    created; ``last_plan`` is the plan of the latest pass (step number, counts, global batch).
    """

    def __init__(self, stream: CurriculumStream) -> None:
        self.stream = stream
        self.last_plan: StepPlan | None = None

    def __len__(self) -> int:
        return self.stream.cfg.grad_accum

    def __iter__(self) -> Iterator[list[Key]]:
        plan = self.stream.next_step()
        self.last_plan = plan
        for micro in plan.micro_batches:
            yield micro.to_keys()


def make_loader(
    stream: CurriculumStream,
    *,
    collate_fn: Callable[[Any], Any] | None = None,
    num_workers: int = 0,
    prefetch_factor: int | None = None,
    pin_memory: bool = False,
    columns: Sequence[str] | None = None,
    as_table: bool = False,
    multiprocessing_context: Any = None,
) -> Any:
    """A DataLoader whose every pass is one optimizer step of ``stream`` (see the module docstring)."""
    dataset = StreamDataset.for_stream(stream, columns=columns, as_table=as_table)
    return _data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(stream),
        collate_fn=collate_fn or collate_rows,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
        multiprocessing_context=multiprocessing_context,
    )
