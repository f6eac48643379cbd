"""The numbers behind the run section, read from a run directory's ``metrics.jsonl``.

The records are parsed by :mod:`pixelis_train.runlog` (the loop writes through the same classes) and
the stage timeline comes from :func:`pixelis_train.curriculum.timeline.stage_timeline`, the function
behind the terminal summary and ``pixelis curriculum simulate``. Reading needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pixelis_data.report.inputs import ReportInputError
from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum.events import Event
from pixelis_train.curriculum.timeline import Timeline, stage_timeline
from pixelis_train.runlog import (
    METRICS_FILE,
    CurriculumRecord,
    EndRecord,
    EvalRecord,
    StartRecord,
    TrainRecord,
    read_run_log,
)

TRAIN_FIELDS = ("loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s")
EVAL_FIELDS = ("loss", "token_accuracy", "exp_neg_loss", "action_accuracy", "n_samples")


@dataclass
class RunView:
    """Everything the run section shows."""

    path: Path
    train: pl.DataFrame
    """step + TRAIN_FIELDS + stage, one row per train log line."""
    evals: pl.DataFrame
    """step, category, final + EVAL_FIELDS, one row per category and evaluation."""
    metric: str | None
    """The curriculum metric named by the eval records (token_accuracy, exp_neg_loss, action_accuracy)."""
    events: list[Event]
    """Curriculum events in order, holds included."""
    timeline: Timeline
    last_step: int
    start: StartRecord | None
    end: EndRecord | None
    skipped_lines: int = 0
    """Lines that were not records (e.g. torn by a kill mid-write)."""

    @property
    def final_eval(self) -> dict[str, dict[str, Any]]:
        """The last evaluation's numbers per category (what the terminal summary prints)."""
        if self.evals.height == 0:
            return {}
        last = self.evals.filter(pl.col("step") == self.evals["step"].max())
        last = last.unique("category", keep="last", maintain_order=True)
        return {r["category"]: r for r in last.iter_rows(named=True)}


def _train_frame(records: list[TrainRecord]) -> pl.DataFrame:
    rows = [{"step": r.step, **{k: getattr(r, k) for k in TRAIN_FIELDS}, "stage": r.stage} for r in records]
    schema = {"step": pl.Int64, **{k: pl.Float64 for k in TRAIN_FIELDS}, "stage": pl.String}
    return pl.DataFrame(rows, schema=schema, strict=False)


def _eval_frame(records: list[EvalRecord]) -> pl.DataFrame:
    rows = []
    for r in records:
        categories = [c for c in CATEGORIES if c in r.categories] + sorted(set(r.categories) - set(CATEGORIES))
        for c in categories:
            numbers = r.categories[c]
            rows.append({"step": r.step, "category": c, "final": r.final, **{f: numbers.get(f) for f in EVAL_FIELDS}})
    schema = {"step": pl.Int64, "category": pl.String, "final": pl.Boolean, **{f: pl.Float64 for f in EVAL_FIELDS}}
    return pl.DataFrame(rows, schema=schema, strict=False)


def _first_stage(start: StartRecord | None, events: list[Event], train: list[TrainRecord]) -> tuple[int, str]:
    """Stage index and name the run started in: the start record's, else inferred (logs of older runs)."""
    if start is not None and start.stage_name is not None:
        return start.stage, start.stage_name
    stage = events[0].stage_before if events else 0
    # the first train record names the stage only if it was logged before the first decision
    if train and (not events or train[0].step <= events[0].step):
        return stage, train[0].stage
    return stage, f"stage {stage}"


def run_view(path: Path) -> RunView:
    """Parse ``path/metrics.jsonl`` into frames, events and the stage timeline."""
    log = read_run_log(path / METRICS_FILE)
    if not log.records:
        raise ReportInputError(f"{path / METRICS_FILE}: no metrics records (has the run logged anything yet?)")
    events = [r.event for r in log.of(CurriculumRecord)]
    train, evals = log.of(TrainRecord), log.of(EvalRecord)
    starts, ends = log.of(StartRecord), log.of(EndRecord)
    start = starts[0] if starts else None
    last_step = max(r.step for r in log.records)
    first_stage, first_name = _first_stage(start, events, train)
    return RunView(
        path=path,
        train=_train_frame(train),
        evals=_eval_frame(evals),
        metric=evals[0].metric if evals else None,
        events=events,
        timeline=stage_timeline(events, first_stage=first_stage, first_name=first_name, end=last_step),
        last_step=last_step,
        start=start,
        end=ends[-1] if ends else None,
        skipped_lines=log.bad_lines,
    )
