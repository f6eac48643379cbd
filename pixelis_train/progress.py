"""Progress state of a training run: one typed object, saved in every checkpoint and restored on resume.

Everything that moves between steps and is not a tensor lives here (the model, optimizer, scheduler
and RNG states are checkpointed beside it). ``state_dict()`` is the ``state.json`` of a checkpoint
(with the run's process layout added by the loop); ``load_state_dict`` is its inverse, so checkpoint
and resume cannot drift apart. Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pixelis_train.curriculum.events import Event


@dataclass
class LogWindow:
    """What the next train log line averages over (checkpointed: a resumed run logs the very same numbers):
    the token-loss sum, trained (target) tokens, non-padding tokens, samples and seconds since the last line."""

    loss: float = 0.0
    target: int = 0
    tokens: int = 0
    samples: int = 0
    seconds: float = 0.0

    def add(self, loss_sum: float, n_target: int, n_tokens: int, n_samples: int, seconds: float) -> None:
        self.loss += loss_sum
        self.target += n_target
        self.tokens += n_tokens
        self.samples += n_samples
        self.seconds += seconds


@dataclass
class FormatStats:
    """Counts of what happened to the samples given to ``batch.format_rows`` (they always add up)."""

    formatted: int = 0
    skipped: int = 0
    truncated: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    """The first few skip messages (each names the sample), for the run summary; not checkpointed."""

    def add(self, other: FormatStats) -> None:
        """Fold the counts of ``other`` (e.g. one step's) into these."""
        self.formatted += other.formatted
        self.skipped += other.skipped
        self.truncated += other.truncated
        self.skip_reasons.extend(other.skip_reasons[: max(0, 20 - len(self.skip_reasons))])

    def as_dict(self) -> dict[str, int]:
        return {"formatted": self.formatted, "skipped": self.skipped, "truncated": self.truncated}


@dataclass
class TrainProgress:
    """Step, early-stopping record, log window, curriculum and stream state, format counts, decisions."""

    curriculum: dict[str, Any]
    """The policy state (``policy.initial_state()`` at the start)."""
    stream: dict[str, Any]
    """The stream state as of the last step trained (its plan made); the next plan is step + 1."""
    step: int = 0
    """Optimizer steps done."""
    best: float = -math.inf
    """Best overall eval metric so far (early stopping)."""
    bad_evals: int = 0
    """Evaluations since ``best`` last improved by more than the minimum delta."""
    window: LogWindow = field(default_factory=LogWindow)
    format_stats: FormatStats = field(default_factory=FormatStats)
    events: list[Event] = field(default_factory=list)
    """Every policy decision that was not a hold (advances, rollbacks): enough for the stage timeline."""

    def record_eval(self, overall: float, min_delta: float) -> None:
        """Early-stopping bookkeeping for one evaluation's overall metric."""
        if overall > self.best + min_delta:
            self.best, self.bad_evals = overall, 0
        else:
            self.bad_evals += 1

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready view (the ``state.json`` of a checkpoint)."""
        return {
            "step": self.step,
            "curriculum": self.curriculum,
            "stream": self.stream,
            "best": self.best,
            "bad_evals": self.bad_evals,
            "log_window": asdict(self.window),
            "format_stats": self.format_stats.as_dict(),
            "events": [e.to_json() for e in self.events],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` produced (unknown keys, e.g. the process layout, are ignored)."""
        self.step = int(state["step"])
        self.curriculum = state["curriculum"]
        self.stream = state["stream"]
        self.best = float(state["best"])
        self.bad_evals = int(state["bad_evals"])
        self.window = LogWindow(**state["log_window"])
        self.format_stats = FormatStats(**state["format_stats"])
        self.events = [Event.from_json(e) for e in state["events"]]
