"""The numbers behind the run section, read from a run directory's ``metrics.jsonl``.

Record shapes (``pixelis_train/loop.py``): every line has ``kind`` and ``step``; ``train`` lines hold
loss, lr, grad_norm, tokens_per_s, samples_per_s and the stage name; ``eval`` lines hold
``<category>/<field>`` numbers and the curriculum ``metric`` name; ``curriculum`` lines hold the policy
``event`` (``Event.to_json()``); ``end`` holds how the run stopped and where the time went.
The stage timeline uses the same rule as the terminal summary: an event whose stage after differs from
the stage before it. Reading needs no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pixelis_data.report.inputs import METRICS_FILE, ReportInputError
from pixelis_data.schema import CATEGORIES

TRAIN_FIELDS = ("loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s")
EVAL_FIELDS = ("loss", "token_accuracy", "exp_neg_loss", "action_accuracy", "n_samples")


@dataclass(frozen=True)
class Segment:
    """A stretch of steps spent in one stage."""

    start: int
    end: int
    stage: int
    name: str


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
    events: list[dict[str, Any]]
    """Curriculum events (``Event.to_json()``) in order, holds included."""
    segments: list[Segment]
    cooldowns: list[tuple[int, int]]
    """(rollback step, cooldown end) of each rollback, cut at the last step."""
    last_step: int
    start: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] | None = None
    skipped_lines: int = 0
    """Lines that were not JSON objects (e.g. torn by a kill mid-write)."""

    @property
    def timeline(self) -> list[dict[str, Any]]:
        """Stage changes as the terminal summary lists them: step, from, to, kind, reason."""
        names = {s.stage: s.name for s in self.segments}
        return [
            {
                "step": e["step"],
                "from": names.get(e["stage_before"], f"stage {e['stage_before']}"),
                "to": e["stage_name"],
                "kind": e["kind"],
                "reason": e["reason"],
            }
            for e in self.events
            if e["stage_after"] != e["stage_before"]
        ]

    @property
    def final_eval(self) -> dict[str, dict[str, Any]]:
        """The last evaluation's numbers per category (what the terminal summary prints)."""
        if self.evals.height == 0:
            return {}
        last = self.evals.filter(pl.col("step") == self.evals["step"].max())
        last = last.unique("category", keep="last", maintain_order=True)
        return {r["category"]: r for r in last.iter_rows(named=True)}


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """JSON objects of a metrics.jsonl file and the number of unreadable lines."""
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("kind"), str) and isinstance(record.get("step"), int):
            records.append(record)
        else:
            bad += 1
    return records, bad


def _train_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    rows = [
        {"step": r["step"], **{k: r.get(k) for k in TRAIN_FIELDS}, "stage": r.get("stage")}
        for r in records
        if r["kind"] == "train"
    ]
    schema = {"step": pl.Int64, **{k: pl.Float64 for k in TRAIN_FIELDS}, "stage": pl.String}
    return pl.DataFrame(rows, schema=schema, strict=False)


def _eval_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    rows = []
    for r in records:
        if r["kind"] != "eval":
            continue
        found = {k.split("/", 1)[0] for k in r if "/" in k}
        categories = [c for c in CATEGORIES if c in found] + sorted(found - set(CATEGORIES))
        for c in categories:
            rows.append(
                {
                    "step": r["step"],
                    "category": c,
                    "final": bool(r.get("final", False)),
                    **{f: r.get(f"{c}/{f}") for f in EVAL_FIELDS},
                }
            )
    schema = {"step": pl.Int64, "category": pl.String, "final": pl.Boolean, **{f: pl.Float64 for f in EVAL_FIELDS}}
    return pl.DataFrame(rows, schema=schema, strict=False)


def stage_segments(events: list[dict[str, Any]], first_name: str | None, last_step: int) -> list[Segment]:
    """Stages over steps: stage 0 from step 0, then a new segment at every event that changes the stage."""
    stage = events[0]["stage_before"] if events else 0
    names: dict[int, str] = {e["stage_after"]: e["stage_name"] for e in events}
    if first_name:
        names.setdefault(stage, first_name)
    segments, start = [], 0
    for e in events:
        if e["stage_after"] != stage:
            segments.append(Segment(start, e["step"], stage, names.get(stage, f"stage {stage}")))
            stage, start = e["stage_after"], e["step"]
    segments.append(Segment(start, max(last_step, start), stage, names.get(stage, f"stage {stage}")))
    return [s for s in segments[:-1] if s.end > s.start] + segments[-1:]


def run_view(path: Path) -> RunView:
    """Parse ``path/metrics.jsonl`` into frames, events, stage segments and cooldowns."""
    records, bad = read_records(path / METRICS_FILE)
    if not records:
        raise ReportInputError(f"{path / METRICS_FILE}: no metrics records (has the run logged anything yet?)")
    events = [r["event"] for r in records if r["kind"] == "curriculum" and isinstance(r.get("event"), dict)]
    train = _train_frame(records)
    last_step = max(r["step"] for r in records)
    first_stage = train["stage"][0] if train.height else None
    if events and train.height and train["step"][0] > events[0]["step"]:
        first_stage = None  # logged after the first decision: may already be a later stage
    cooldowns = []
    for e in events:
        until = e.get("numbers", {}).get("cooldown_until")
        if e["kind"] == "rollback" and isinstance(until, (int, float)):
            cooldowns.append((e["step"], int(min(until, max(last_step, e["step"])))))
    metric = next((r["metric"] for r in records if r["kind"] == "eval" and isinstance(r.get("metric"), str)), None)
    return RunView(
        path=path,
        train=train,
        evals=_eval_frame(records),
        metric=metric,
        events=events,
        segments=stage_segments(events, first_stage, last_step),
        cooldowns=cooldowns,
        last_step=last_step,
        start=next((r for r in records if r["kind"] == "start"), {}),
        end=next((r for r in reversed(records) if r["kind"] == "end"), None),
        skipped_lines=bad,
    )
