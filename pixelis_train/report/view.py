"""The numbers behind the run section, read from a run directory's ``metrics.jsonl``.

The records are parsed by :mod:`pixelis_train.runlog` (the loop writes through the same classes) and
the stage timeline comes from :func:`pixelis_train.curriculum.timeline.stage_timeline`, the function
behind the terminal summary and ``pixelis curriculum simulate``. Reading needs no torch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pixelis_data.report.inputs import ReportInputError
from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum.events import Event
from pixelis_train.curriculum.timeline import Timeline, stage_timeline
from pixelis_train.report.legs import Leg, run_legs
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
EVAL_FIELDS = (
    "loss",
    "token_accuracy",
    "exp_neg_loss",
    "action_accuracy",
    "n_samples",
    "answer_accuracy",
    "n_answered",
)
SKILL_FIELDS = (*EVAL_FIELDS, "n_tokens", "n_actions")


@dataclass
class RunView:
    """Everything the run section shows."""

    path: Path
    train: pl.DataFrame
    """step + TRAIN_FIELDS + stage, one row per train log line."""
    evals: pl.DataFrame
    """step, category, final + EVAL_FIELDS, one row per category and evaluation."""
    skills: pl.DataFrame
    """step, category, skill, final + SKILL_FIELDS, one row per skill of a category and evaluation."""
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
    legs: list[Leg] = field(default_factory=list)
    """One per process that trained the run (several after a resume), in order."""
    policy: str | None = None
    """The curriculum policy of the run's config.yaml (None if it does not say)."""
    min_performance: float | None = None
    """The adaptive policy's advance threshold (None for other policies, or when unknown)."""
    config_problem: str | None = None
    """Why config.yaml could not be read (None when it could, or is absent)."""

    @property
    def final_eval(self) -> dict[str, dict[str, Any]]:
        """The last evaluation's numbers per category (what the terminal summary prints)."""
        if self.evals.height == 0:
            return {}
        last = self.evals.filter(pl.col("step") == self.evals["step"].max())
        last = last.unique("category", keep="last", maintain_order=True)
        return {r["category"]: r for r in last.iter_rows(named=True)}

    @property
    def final_skills(self) -> pl.DataFrame:
        """The last evaluation per skill over all categories: skill, samples, token accuracy, loss (both
        token-weighted), answered samples and answer accuracy (weighted by them), in skill order."""
        if self.skills.height == 0:
            return _skill_totals(self.skills)
        step = self.evals["step"].max() if self.evals.height else self.skills["step"].max()
        last = self.skills.filter(pl.col("step") == step)
        # the final=True record repeats the step of an early stop's deciding one: it is the later, keep it
        last = last.filter(pl.col("final") == last["final"].max())
        return _skill_totals(last)


def _skill_totals(rows: pl.DataFrame) -> pl.DataFrame:
    """Per skill, the categories' numbers combined as one evaluation of all their samples would give them."""
    answered = pl.col("answer_accuracy").is_not_null()
    n_answered = pl.when(answered).then(pl.col("n_answered")).otherwise(0)
    return (
        rows.group_by("skill", maintain_order=True)
        .agg(
            n_samples=pl.col("n_samples").sum(),
            token_accuracy=(pl.col("token_accuracy") * pl.col("n_tokens")).sum() / pl.col("n_tokens").sum(),
            loss=(pl.col("loss") * pl.col("n_tokens")).sum() / pl.col("n_tokens").sum(),
            n_answered=pl.col("n_answered").sum(),
            answer_accuracy=pl.when(n_answered.sum() > 0).then(
                (pl.col("answer_accuracy").fill_null(0.0) * n_answered).sum() / n_answered.sum()
            ),
        )
        .sort(pl.col("skill").str.starts_with("op/"), "skill")
    )


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


def _skill_frame(records: list[EvalRecord]) -> pl.DataFrame:
    rows = [
        {"step": r.step, "category": c, "skill": skill, "final": r.final, **{f: numbers.get(f) for f in SKILL_FIELDS}}
        for r in records
        for c, skills in r.skills.items()
        for skill, numbers in skills.items()
    ]
    schema = {
        "step": pl.Int64,
        "category": pl.String,
        "skill": pl.String,
        "final": pl.Boolean,
        **{f: pl.Float64 for f in SKILL_FIELDS},
    }
    return pl.DataFrame(rows, schema=schema, strict=False)


def category_order(view: RunView) -> str | None:
    """Whether the last evaluation's eval loss rises from simple to hard, as the split intends, in words;
    None with fewer than two categories evaluated."""
    final = {c: r["loss"] for c, r in view.final_eval.items() if c in CATEGORIES and r["loss"] is not None}
    if len(final) < 2:
        return None
    names = [c for c in CATEGORIES if c in final]
    step = int(view.evals["step"].max())
    pairs = list(itertools.combinations(names, 2))  # every easier -> harder pair, not only neighbours
    if all(final[a] < final[b] for a, b in pairs):
        chain = " < ".join(f"{c} {final[c]:.4f}" for c in names)
        return (
            f"at the last evaluation (step {step}), eval loss {chain}: the categories are ordered as the split intends"
        )
    listed = ", ".join(f"{c} {final[c]:.4f}" for c in names)
    wrong = "; ".join(f"{b} <= {a}" for a, b in pairs if not final[a] < final[b])
    return f"at the last evaluation (step {step}), eval loss {listed}: not ordered as the split intends ({wrong})"


def _first_stage(start: StartRecord | None, events: list[Event], train: list[TrainRecord]) -> tuple[int, str]:
    """Stage index and name the run started in: the start record's, else inferred (logs of older runs)."""
    if start is not None and start.stage_name is not None:
        return start.stage, start.stage_name
    stage = events[0].stage_before if events else 0
    # the first train record names the stage only if it was logged before the first decision
    if train and (not events or train[0].step <= events[0].step):
        return stage, train[0].stage
    return stage, f"stage {stage}"


def _config_curriculum(path: Path) -> tuple[dict[str, Any], str | None]:
    """The ``curriculum`` mapping of the run's config.yaml ({} when absent) and a problem, if any."""
    file = path / "config.yaml"
    if not file.is_file():
        return {}, None
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        return {}, f"{file}: unreadable ({first})"
    section = data.get("curriculum") if isinstance(data, dict) else None
    return (section, None) if isinstance(section, dict) else ({}, None)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def curriculum_threshold(curriculum: dict[str, Any], events: list[Event]) -> float | None:
    """``min_performance`` as the adaptive policy decided with it: its events' numbers (the last that has
    one), else config.yaml's when that names the adaptive policy; None for the other policies (they
    advance on planned steps, no threshold) and when neither says."""
    logged = [e.numbers["min_performance"] for e in events if _is_number(e.numbers.get("min_performance"))]
    if logged:
        return float(logged[-1])
    value = curriculum.get("min_performance")
    if curriculum.get("policy") == "adaptive" and _is_number(value):
        return float(value)
    return None


def run_view(path: Path) -> RunView:
    """Parse ``path/metrics.jsonl`` into frames, events and the stage timeline."""
    log = read_run_log(path / METRICS_FILE)
    if not log.records:
        raise ReportInputError(f"{path / METRICS_FILE}: no metrics records (has the run logged anything yet?)")
    events = [r.event for r in log.of(CurriculumRecord)]
    train, evals = log.of(TrainRecord), log.of(EvalRecord)
    starts = log.of(StartRecord)
    start = starts[0] if starts else None
    last_step = max(r.step for r in log.records)
    first_stage, first_name = _first_stage(start, events, train)
    legs = run_legs(log.records)
    curriculum, problem = _config_curriculum(path)
    policy = curriculum.get("policy")
    return RunView(
        path=path,
        train=_train_frame(train),
        evals=_eval_frame(evals),
        skills=_skill_frame(evals),
        metric=evals[0].metric if evals else None,
        events=events,
        timeline=stage_timeline(events, first_stage=first_stage, first_name=first_name, end=last_step),
        last_step=last_step,
        start=start,
        end=legs[-1].end,  # an earlier leg's end record is not the run's
        skipped_lines=log.bad_lines,
        legs=legs,
        policy=policy if isinstance(policy, str) else None,
        min_performance=curriculum_threshold(curriculum, events),
        config_problem=problem,
    )
