"""Keys of the stream -> the padded, label-masked tensors ``pixelis train`` trains on.

The dataset yields ``{"category", "row"}`` keys; the collator reads the micro-batch's rows with one
``stream.fetch`` and formats them with the same :class:`~pixelis_train.chat.ChatFormatter` and
:func:`~pixelis_train.batch.collate` as ``pixelis train`` (labels only on the assistant's tokens). A
bad sample is skipped and counted when ``skip_bad_samples`` is on (the callback logs the count); a
micro-batch whose samples were all skipped becomes a filler that trains no token, so every rank still
runs the same number of forward passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pixelis_train.batch import collate, format_rows
from pixelis_train.chat import IGNORE_INDEX, ChatFormatter, Example
from pixelis_train.hf.dataset import KEY_FIELDS
from pixelis_train.progress import FormatStats
from pixelis_train.stream import CurriculumStream, IndexBatch


class CollatorInputError(ValueError):
    """The collator got items without the keys the pixelis dataset yields."""


REMOVED_COLUMNS_HINT = (
    "remove_unused_columns=True makes the Trainer keep only the model's forward arguments, which drops "
    "the 'category' and 'row' keys the pixelis collator reads; set TrainingArguments(remove_unused_columns=False)"
)


class PixelisCollator:
    """``data_collator`` for the Trainer: a list of stream keys -> ``input_ids`` / ``attention_mask`` /
    ``labels`` (+ ``pixel_values`` / ``image_grid_thw`` for VL models)."""

    def __init__(
        self,
        stream: CurriculumStream,
        formatter: ChatFormatter,
        pad_id: int,
        filler: Example,
        *,
        skip_bad_samples: bool = False,
    ) -> None:
        self.stream = stream
        self.formatter = formatter
        self.pad_id = pad_id
        self.filler = filler
        self.skip_bad_samples = skip_bad_samples
        self.stats = FormatStats()
        """Formatted, skipped and truncated samples so far (checkpointed with the curriculum state)."""

    def __call__(self, features: Sequence[Any]) -> dict[str, Any]:
        keys = []
        for feature in features:
            if not isinstance(feature, Mapping) or any(k not in feature for k in KEY_FIELDS):
                got = sorted(feature) if isinstance(feature, Mapping) else type(feature).__name__
                raise CollatorInputError(
                    f"pixelis collator: an item has no 'category'/'row' (got {got}); {REMOVED_COLUMNS_HINT}"
                )
            keys.append((feature["category"], int(feature["row"])))
        rows = self.stream.fetch(IndexBatch.from_keys(keys)).to_pylist()
        examples = format_rows(rows, self.formatter, self.skip_bad_samples, self.stats)
        if examples:
            return collate(examples, self.pad_id)
        batch = collate([self.filler], self.pad_id)
        batch["labels"][:] = IGNORE_INDEX  # every sample was skipped (and counted): train nothing
        return batch
