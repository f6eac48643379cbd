"""Formatted examples -> padded tensors, and the token-level loss / accuracy both training and eval use."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelis_train._deps import require
from pixelis_train.chat import IGNORE_INDEX, ChatFormatter, Example
from pixelis_train.images import BadSampleError
from pixelis_train.progress import FormatStats

torch = require("torch")
F = require("torch.nn.functional")


def format_rows(
    rows: Iterable[dict[str, Any]], formatter: ChatFormatter, skip_bad: bool, stats: FormatStats
) -> list[Example]:
    """Format records; a bad one raises (naming the sample) unless ``skip_bad``, then it is counted."""
    out = []
    for row in rows:
        try:
            example = formatter.format(row)
        except BadSampleError as err:
            if not skip_bad:
                raise
            stats.skipped += 1
            if len(stats.skip_reasons) < 20:
                stats.skip_reasons.append(str(err))
            continue
        stats.formatted += 1
        stats.truncated += int(example.truncated)
        out.append(example)
    return out


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    """Right-padded ``input_ids`` / ``attention_mask`` / ``labels`` (+ ``pixel_values``, ``image_grid_thw``)."""
    width = max(len(ex.input_ids) for ex in examples)
    ids = np.full((len(examples), width), pad_id, dtype=np.int64)
    labels = np.full((len(examples), width), IGNORE_INDEX, dtype=np.int64)
    mask = np.zeros((len(examples), width), dtype=np.int64)
    for i, ex in enumerate(examples):
        n = len(ex.input_ids)
        ids[i, :n] = ex.input_ids
        labels[i, :n] = ex.labels
        mask[i, :n] = 1
    batch: dict[str, Any] = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(labels),
    }
    pixels = [ex.pixel_values for ex in examples if ex.pixel_values is not None and len(ex.image_grid_thw)]
    if pixels:
        batch["pixel_values"] = torch.from_numpy(np.concatenate(pixels))
        batch["image_grid_thw"] = torch.tensor([g for ex in examples for g in ex.image_grid_thw], dtype=torch.long)
    return batch


def model_inputs(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    """The tensors the model's forward takes (labels stay out: the loss is computed here, in fp32)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}


def n_target_tokens(batch: dict[str, Any]) -> int:
    """Trained tokens of ``batch`` after the causal shift (what the loss is averaged over)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


@dataclass
class TokenStats:
    """Sums over trained tokens of a batch: loss, count, correct argmax predictions, and the argmax."""

    loss_sum: Any
    n_tokens: int
    n_correct: int
    predictions: Any


def token_stats(logits: Any, labels: Any) -> TokenStats:
    """Causal-shifted cross-entropy (summed, fp32) and accuracy on tokens whose label is not -100."""
    shifted = logits[:, :-1].float()
    targets = labels[:, 1:].to(shifted.device)
    loss_sum = F.cross_entropy(
        shifted.reshape(-1, shifted.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    valid = targets != IGNORE_INDEX
    predictions = shifted.argmax(dim=-1)
    n_correct = int(((predictions == targets) & valid).sum())
    return TokenStats(loss_sum, int(valid.sum()), n_correct, predictions)
