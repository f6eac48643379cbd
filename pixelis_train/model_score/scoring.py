"""Per-token losses of formatted samples, and a sample's four numbers (docs/model_score.md).

A sample is scored as two sequences: the training chat (``ChatFormatter.format``) and the same chat
without the question and its images (``with_question=False``, the IFD's unconditioned prompt). Both
are teacher-forced; the loss at position p is the cross-entropy of the logits at p - 1 against token p
wherever ``labels[p] != -100``: exactly the masking and shift of ``batch.token_stats``, the training loss.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelis_train._deps import require
from pixelis_train.batch import collate, model_inputs
from pixelis_train.chat import IGNORE_INDEX, Example
from pixelis_train.model_score.packing import pack_by_length

torch = require("torch")
F = require("torch.nn.functional")


@dataclass(frozen=True)
class SampleScore:
    """One output row: the model-based difficulty of one sample."""

    sample_id: str
    model_loss: float | None
    """Mean NLL over the trained (assistant) tokens; None when the sample has none (it is then left out)."""
    answer_loss: float | None
    """Mean NLL over the last assistant turn's tokens; None when the sample has no answer."""
    ifd: float | None
    """model_loss / the same tokens' loss without the question and images; None when undefined."""
    n_tokens: int
    """Trained tokens (what model_loss averages over)."""


def trained_positions(example: Example) -> np.ndarray:
    """Positions p >= 1 whose token is trained (position 0 has no logits to be predicted from)."""
    labels = np.asarray(example.labels, dtype=np.int64)
    return np.flatnonzero(labels[1:] != IGNORE_INDEX) + 1


def sequence_nll(
    model: Any,
    examples: list[Example],
    pad_id: int,
    device: Any,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> list[np.ndarray]:
    """One forward pass over ``examples``: each one's NLL per trained token, in position order (float64).

    The batch is right-padded and passed without an attention mask: under causal attention a real token
    only ever sees the tokens before it, never the padding after the sequence's end, so the result is the
    padded-mask result, and the kernel takes its faster causal path. Logits are computed only at the
    positions some row of the batch trains on (``logits_to_keep``), which for VL samples skips the image
    tokens. Call under ``torch.no_grad()`` with the model in eval mode.
    """
    batch = collate(examples, pad_id)
    targets = batch["labels"][:, 1:]
    keep = torch.nonzero((targets != IGNORE_INDEX).any(dim=0)).flatten()
    if keep.numel() == 0:
        return [np.zeros(0, dtype=np.float64) for _ in examples]
    inputs = model_inputs(batch, device)
    inputs.pop("attention_mask")
    with autocast():
        logits = model(**inputs, logits_to_keep=keep.to(device)).logits
    kept = targets[:, keep].to(logits.device)
    trained = kept != IGNORE_INDEX
    out = []
    for i in range(len(examples)):  # one row at a time: the fp32 copy of the logits stays one sequence long
        rows = trained[i]
        nll = F.cross_entropy(logits[i, rows].float(), kept[i, rows], reduction="none")
        out.append(nll.double().cpu().numpy())
    return out


def sample_score(full: Example, full_nll: np.ndarray, bare: Example, bare_nll: np.ndarray) -> SampleScore:
    """The four numbers of one sample from its two sequences' per-token losses."""
    positions = trained_positions(full)
    n = len(positions)
    if n == 0:
        return SampleScore(full.sample_id, None, None, None, 0)
    model_loss = float(full_nll.sum() / n)
    answer_loss = None
    if full.answer_positions:  # empty: no answer, or truncation cut it
        final = np.isin(positions, full.final_turn_positions)
        answer_loss = float(full_nll[final].sum() / final.sum()) if final.any() else None
    ifd = None
    bare_positions = trained_positions(bare)
    # The chat without the question is shorter, so it keeps at least the tokens the full one trains; the
    # ratio is over those same tokens (the first n trained tokens of both, checked to be the same ids).
    if len(bare_positions) >= n:
        same = np.array_equal(np.asarray(full.input_ids)[positions], np.asarray(bare.input_ids)[bare_positions[:n]])
        bare_loss = float(bare_nll[:n].sum() / n)
        ifd = model_loss / bare_loss if same and bare_loss > 0 else None
    return SampleScore(full.sample_id, model_loss, answer_loss, ifd, n)


class Scorer:
    """Scores (full, bare) example pairs in batches packed by length under a token budget."""

    def __init__(
        self,
        model: Any,
        pad_id: int,
        device: Any,
        token_budget: int,
        autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.token_budget = token_budget
        self.autocast = autocast

    def score(
        self, pairs: list[tuple[Example, Example]], advance: Callable[[float], None] | None = None
    ) -> list[SampleScore]:
        """The scores of ``pairs``, in order; ``advance`` gets the samples done after each batch (halves count)."""
        sequences = [ex for pair in pairs for ex in pair]
        nll: list[np.ndarray] = [np.zeros(0)] * len(sequences)
        self.model.eval()
        with torch.no_grad():
            for batch in pack_by_length([len(ex.input_ids) for ex in sequences], self.token_budget):
                examples = [sequences[i] for i in batch]
                values = sequence_nll(self.model, examples, self.pad_id, self.device, self.autocast)
                for i, row in zip(batch, values, strict=True):
                    nll[i] = row
                if advance is not None:
                    advance(len(batch) / 2)
        return [sample_score(full, nll[2 * k], bare, nll[2 * k + 1]) for k, (full, bare) in enumerate(pairs)]
