"""The training data a Hugging Face ``Trainer`` iterates: one optimizer step's global batch per pass.

Why one pass per step: the Trainer pulls an epoch's batches through accelerate's ``DataLoaderShard``,
which reads one batch ahead, and ``get_batch_samples`` takes a step's ``grad_accum`` micro-batches
before the step runs. An endless dataset would therefore have planned step s + 1 before the callback
decided its weights at the end of step s. Here ``len(dataset)`` is one global batch, so the Trainer sees
one optimizer step per "epoch" and calls ``iter`` on the dataloader once per step, after the previous
step's ``on_step_end`` (where the callback applies new weights). The pass plans the step the Trainer
is on (``TrainerState.global_step``), never the next one: the plan is keyed by step, not by how many
items were consumed, and asking twice for the same step returns the same plan.

Under DDP accelerate wraps an iterable dataset in ``IterableDatasetShard``: it cuts the item stream
into chunks of ``micro_batch x world_size`` and gives rank r the r-th ``micro_batch`` of each chunk. So
the pass yields the global batch in micro-batch-major, rank-minor order (micro-batch j of rank 0, of
rank 1, ..., then j + 1), and every rank ends up with exactly its contiguous slice of the stream's
global batch (``StepPlan.micro_batches`` of a stream with that rank), as ``pixelis train`` trains it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from pixelis_train._deps import require
from pixelis_train.stream import CurriculumStream, IndexBatch, StepPlan

_data = require("torch.utils.data")

KEY_FIELDS: tuple[str, str] = ("category", "row")
"""The fields of every item the dataset yields (what the collator reads)."""


class StepOrderError(RuntimeError):
    """The Trainer asked for a step the stream cannot give without breaking the sample sequence."""


class StepPlanner:
    """The stream's plans by the Trainer's step: step s is planned once, when its pass begins."""

    def __init__(self, stream: CurriculumStream) -> None:
        self.stream = stream
        self.trainer_state: Any = None
        """The Trainer's ``TrainerState`` (set by the callback at ``on_train_begin``)."""
        self._plan: StepPlan | None = None

    @property
    def trainer_step(self) -> int:
        """Optimizer steps the Trainer has done (= the step index its next pass trains)."""
        if self.trainer_state is None:
            raise StepOrderError(
                "the pixelis dataset was iterated before training began: call curriculum.attach(trainer) "
                "before trainer.train() (the callback tells the dataset which step the Trainer is on)"
            )
        return int(self.trainer_state.global_step)

    def plan(self, step: int) -> StepPlan:
        """The plan of step ``step``: the cached one, or a new one if the stream stands exactly there."""
        if self._plan is not None and self._plan.step == step:
            return self._plan
        if self.stream.step != step:
            raise StepOrderError(
                f"the Trainer is at step {step} but the pixelis stream has planned {self.stream.step} steps; "
                "the stream state must come from the same run's checkpoint (resume_from_checkpoint)"
            )
        self._plan = self.stream.next_step()
        return self._plan

    def reset(self) -> None:
        """Forget the cached plan (after the stream was restored from a checkpoint)."""
        self._plan = None


def accelerate_order(batch: IndexBatch, world_size: int, micro_batch: int) -> IndexBatch:
    """``batch`` reordered so that accelerate's ``IterableDatasetShard`` hands rank r its contiguous
    slice ``[r B / W, (r + 1) B / W)``, micro-batch by micro-batch (see the module docstring)."""
    n = len(batch)
    grad_accum = n // (world_size * micro_batch)
    order = np.arange(n).reshape(world_size, grad_accum, micro_batch).transpose(1, 0, 2).reshape(-1)
    return batch[order]


class StepDataset(_data.IterableDataset):
    """One optimizer step's global batch per pass, as ``{"category", "row"}`` keys (the collator fetches)."""

    def __init__(self, planner: StepPlanner, world_size: int, micro_batch: int) -> None:
        self.planner = planner
        self.world_size = world_size
        self.micro_batch = micro_batch

    def __len__(self) -> int:
        return self.planner.stream.cfg.global_batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if _data.get_worker_info() is not None:
            raise StepOrderError(
                "the pixelis dataset plans in the main process: set TrainingArguments(dataloader_num_workers=0)"
            )
        # planned now (when the pass starts), not lazily: every rank plans every step, whichever items it keeps
        plan = self.planner.plan(self.planner.trainer_step)
        ordered = accelerate_order(plan.global_batch, self.world_size, self.micro_batch)
        return iter([{"category": c, "row": r} for c, r in ordered.to_keys()])
