"""What the training loop shows while it runs: a rich live bar in a terminal, plain lines otherwise.

Live (``logging.live`` and the console is a terminal): a bar with the latest train numbers, naming the
evaluation phase while evaluating. Plain (``--no-live``, or output to a file / pipe / CI log): one line
per log interval (step/total, loss, stage, samples/s, ETA). In both: one line per evaluation (the
curriculum metric per category) and one per curriculum event that is not a hold. Only rank 0 shows
anything: the loop passes the other ranks a quiet console.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pixelis_train.curriculum.events import Event, is_rejected_advance
from pixelis_train.runlog import TrainRecord


class TrainReporter:
    """The loop's display; a context manager (the live bar is shown while inside)."""

    def __init__(self, console: Console, total: int, start_step: int, live: bool) -> None:
        self.console = console
        self.total = total
        self.live = live and console.is_terminal
        self._start_step = start_step
        self._started = time.perf_counter()
        self._info = ""
        self._bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            disable=not self.live,
            transient=False,
        )
        self._task = self._bar.add_task("train", total=total, completed=start_step, info="")

    def __enter__(self) -> TrainReporter:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def step(self, step: int) -> None:
        """An optimizer step is done."""
        self._bar.update(self._task, completed=step)

    def train(self, record: TrainRecord) -> None:
        """A train record was written (every ``logging.every`` steps and at the last)."""
        loss = "-" if record.loss is None else f"{record.loss:.4f}"
        numbers = f"loss {loss}  lr {record.lr:.2e}  stage {record.stage}  {record.samples_per_s:.1f} samples/s"
        self._info = numbers
        if self.live:
            self._bar.update(self._task, info=numbers)
        else:
            self._line(f"step {record.step}/{self.total}  {numbers}  ETA {self._eta(record.step)}")

    def evaluating(self, step: int) -> None:
        """An evaluation starts (the live bar says so until :meth:`evaluation`)."""
        if self.live:
            self._bar.update(self._task, info=f"evaluating at step {step} ...")

    def evaluation(self, step: int, metric: str, performance: dict[str, float]) -> None:
        """An evaluation's curriculum metric per category."""
        per_category = "  ".join(f"{c} {v:.4f}" for c, v in performance.items())
        self._line(f"eval step {step}: {metric}  {per_category}")
        if self.live:
            self._bar.update(self._task, info=self._info)

    def curriculum(self, event: Event, stage_before: str) -> None:
        """A curriculum decision; holds are not shown (every evaluation has one unless something happens)."""
        if is_rejected_advance(event):
            self._line(f"curriculum step {event.step}: rejected advance, stays at {event.stage_name} ({event.reason})")
        elif event.kind != "hold":
            self._line(
                f"curriculum step {event.step}: {event.kind} {stage_before} -> {event.stage_name} ({event.reason})"
            )

    def _eta(self, step: int) -> str:
        done = step - self._start_step
        if done <= 0:
            return "?"
        seconds = (time.perf_counter() - self._started) / done * (self.total - step)
        return str(timedelta(seconds=round(seconds)))

    def _line(self, text: Any) -> None:
        # highlight off: plain lines are for logs; escape: stage names and reasons are not markup
        self.console.print(escape(str(text)), highlight=False, soft_wrap=True)
