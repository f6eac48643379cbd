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
from pixelis_train.chat import Example

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


def evaluate(
    model: Any,
    eval_sets: dict[str, list[Example]],
    pad_id: int,
    device: Any,
    batch_size: int,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> dict[str, CategoryMetrics]:
    """Evaluate ``model`` on each category's examples (eval mode, no grad; train mode restored after)."""
    was_training = model.training
    model.eval()
    results: dict[str, CategoryMetrics] = {}
    try:
        with torch.no_grad():
            for category, examples in eval_sets.items():
                loss_sum, n_tok, n_correct, n_act, n_act_ok = 0.0, 0, 0, 0, 0
                for lo in range(0, len(examples), batch_size):
                    chunk = examples[lo : lo + batch_size]
                    batch = collate(chunk, pad_id)
                    with autocast():
                        logits = model(**model_inputs(batch, device)).logits
                    stats = token_stats(logits, batch["labels"])
                    loss_sum += float(stats.loss_sum)
                    n_tok += stats.n_tokens
                    n_correct += stats.n_correct
                    preds = stats.predictions.cpu()
                    for i, ex in enumerate(chunk):
                        for positions in ex.action_positions:
                            n_act += 1
                            # position p is predicted from p - 1 (the causal shift)
                            n_act_ok += all(int(preds[i, p - 1]) == ex.input_ids[p] for p in positions)
                mean_loss = loss_sum / n_tok if n_tok else float("nan")
                results[category] = CategoryMetrics(
                    loss=mean_loss,
                    token_accuracy=n_correct / n_tok if n_tok else 0.0,
                    exp_neg_loss=math.exp(-mean_loss) if n_tok else 0.0,
                    # a category without tool calls has nothing to get wrong: fall back to token accuracy
                    action_accuracy=n_act_ok / n_act if n_act else (n_correct / n_tok if n_tok else 0.0),
                    n_samples=len(examples),
                    n_tokens=n_tok,
                    n_actions=n_act,
                )
    finally:
        model.train(was_training)
    return results
