"""Per-category evaluation on the held-out eval set: token accuracy, exp(-loss), action accuracy.

All three are teacher-forced on the assistant (trained) tokens, so one forward pass gives them all:
- token_accuracy: argmax prediction == target over trained tokens;
- exp_neg_loss: exp(-mean cross-entropy) over trained tokens (a per-token likelihood in (0, 1]);
- action_accuracy: share of tool calls whose operation name is predicted right, every token of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

from pixelis_train._deps import require
from pixelis_train.batch import collate, model_inputs, token_stats
from pixelis_train.chat import IGNORE_INDEX, Example

torch = require("torch")


@dataclass(frozen=True)
class CategoryMetrics:
    """Evaluation numbers of one category."""

    loss: float
    token_accuracy: float
    exp_neg_loss: float
    action_accuracy: float
    n_samples: int
    n_tokens: int
    n_actions: int

    def metric(self, name: str) -> float:
        """One of ``token_accuracy``, ``exp_neg_loss``, ``action_accuracy``."""
        return float(getattr(self, name))

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def shard(examples: list[Example], rank: int, world_size: int) -> list[tuple[Example, bool]]:
    """This rank's part of ``examples``: every ``world_size``-th one from ``rank``, padded so that every
    rank gets exactly ceil(n / world_size) entries (the same number of forward passes, which FSDP's
    collectives need). Padding entries repeat a real example and are marked ``False``: not counted."""
    per_rank = -(-len(examples) // world_size)
    picked = range(rank, per_rank * world_size, world_size)
    return [(examples[i % len(examples)], i < len(examples)) for i in picked] if examples else []


def evaluate(
    model: Any,
    eval_sets: dict[str, list[Example]],
    pad_id: int,
    device: Any,
    batch_size: int,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    *,
    rank: int = 0,
    world_size: int = 1,
    all_sum: Callable[[list[float]], list[float]] = list,
) -> dict[str, CategoryMetrics]:
    """Evaluate ``model`` on each category's examples (eval mode, no grad; train mode restored after).

    With several ranks each evaluates its :func:`shard` and ``all_sum`` adds the per-category sums
    over ranks, so every rank gets the same metrics as one process evaluating everything.
    """
    was_training = model.training
    model.eval()
    sums: dict[str, list[float]] = {}
    try:
        with torch.no_grad():
            for category, examples in eval_sets.items():
                # loss, trained tokens, correct tokens, tool calls, tool calls right, samples
                total = [0.0, 0, 0, 0, 0, 0]
                mine = shard(examples, rank, world_size)
                for lo in range(0, len(mine), batch_size):
                    chunk = mine[lo : lo + batch_size]
                    batch = collate([ex for ex, _ in chunk], pad_id)
                    for i, (_, counted) in enumerate(chunk):
                        if not counted:
                            batch["labels"][i] = IGNORE_INDEX
                    with autocast():
                        logits = model(**model_inputs(batch, device)).logits
                    stats = token_stats(logits, batch["labels"])
                    preds = stats.predictions.cpu()
                    total[0] += float(stats.loss_sum)
                    total[1] += stats.n_tokens
                    total[2] += stats.n_correct
                    for i, (ex, counted) in enumerate(chunk):
                        if not counted:
                            continue
                        total[5] += 1
                        for positions in ex.action_positions:
                            total[3] += 1
                            # position p is predicted from p - 1 (the causal shift)
                            total[4] += all(int(preds[i, p - 1]) == ex.input_ids[p] for p in positions)
                sums[category] = total
    finally:
        model.train(was_training)
    reduced = all_sum([v for total in sums.values() for v in total])
    return {c: _metrics(reduced[6 * k : 6 * k + 6]) for k, c in enumerate(sums)}


def _metrics(total: list[float]) -> CategoryMetrics:
    loss_sum, n_tok, n_correct, n_act, n_act_ok, n_samples = total[0], *(round(v) for v in total[1:])
    mean_loss = loss_sum / n_tok if n_tok else float("nan")
    return CategoryMetrics(
        loss=mean_loss,
        token_accuracy=n_correct / n_tok if n_tok else 0.0,
        exp_neg_loss=math.exp(-mean_loss) if n_tok else 0.0,
        # a category without tool calls has nothing to get wrong: fall back to token accuracy
        action_accuracy=n_act_ok / n_act if n_act else (n_correct / n_tok if n_tok else 0.0),
        n_samples=n_samples,
        n_tokens=n_tok,
        n_actions=n_act,
    )
