"""The curriculum's part of a Trainer checkpoint: saved in ``checkpoint-*/trainer_state.json``, restored on resume.

The callback is an ``ExportableState``: when the Trainer writes a checkpoint it stores
``callback.state()`` under ``stateful_callbacks.CurriculumCallback`` of ``trainer_state.json`` (written
by rank 0 with the rest of the Trainer state, after the step's decision). ``trainer.train(
resume_from_checkpoint=...)`` loads that file into ``TrainerState`` before ``on_train_begin``, where
:func:`restore` puts the policy state, stream position, decisions and sample counts back. So the
resumed run plans the very same steps and takes the very same decisions as an uninterrupted one.

Payload (``attributes.pixelis``): ``version``, ``step`` (optimizer steps done), ``curriculum`` (the
policy state), ``stream`` (``CurriculumStream.state_dict()``: it holds the weights decided at ``step``),
``events`` (every decision that was not a hold), ``format_stats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pixelis_train.curriculum.events import Event
from pixelis_train.progress import FormatStats

STATE_VERSION = 1
CALLBACK_NAME = "CurriculumCallback"
"""The key of ``TrainerState.stateful_callbacks`` (the Trainer uses the callback's class name)."""


class CheckpointStateError(ValueError):
    """A checkpoint without (or with an unusable) pixelis curriculum state."""


@dataclass
class CurriculumProgress:
    """What moves between steps on the curriculum side (the stream keeps its own position)."""

    curriculum: dict[str, Any]
    """The policy state."""
    events: list[Event] = field(default_factory=list)
    """Every decision that was not a hold."""


def payload(
    step: int, progress: CurriculumProgress, stream_state: dict[str, Any], stats: FormatStats
) -> dict[str, Any]:
    """The JSON-ready state of the curriculum after ``step`` optimizer steps."""
    return {
        "version": STATE_VERSION,
        "step": step,
        "curriculum": progress.curriculum,
        "stream": stream_state,
        "events": [e.to_json() for e in progress.events],
        "format_stats": stats.as_dict(),
    }


def saved_payload(stateful_callbacks: dict[str, Any] | None, step: int) -> dict[str, Any]:
    """The pixelis payload stored in a resumed ``TrainerState`` (``step`` is its ``global_step``)."""
    entry = (stateful_callbacks or {}).get(CALLBACK_NAME)
    entry = entry[-1] if isinstance(entry, list) and entry else entry
    data = entry.get("attributes", {}).get("pixelis") if isinstance(entry, dict) else None
    if not isinstance(data, dict):
        raise CheckpointStateError(
            f"resuming at step {step}: trainer_state.json has no pixelis curriculum state "
            f"(stateful_callbacks.{CALLBACK_NAME}); the checkpoint was not written by a run with the pixelis callback"
        )
    missing = [k for k in ("version", "step", "curriculum", "stream", "events", "format_stats") if k not in data]
    if missing:
        raise CheckpointStateError(f"resuming at step {step}: the pixelis curriculum state lacks {', '.join(missing)}")
    if data["version"] != STATE_VERSION:
        raise CheckpointStateError(
            f"resuming at step {step}: pixelis state version {data['version']!r} is not {STATE_VERSION}"
        )
    if data["step"] != step:
        raise CheckpointStateError(
            f"resuming at step {step}: the pixelis curriculum state is of step {data['step']!r} "
            "(trainer_state.json was edited or mixed from two checkpoints)"
        )
    return data


def restored(data: dict[str, Any]) -> tuple[CurriculumProgress, FormatStats]:
    """The progress and sample counts of a payload."""
    progress = CurriculumProgress(dict(data["curriculum"]), [Event.from_json(e) for e in data["events"]])
    return progress, FormatStats(**data["format_stats"])
