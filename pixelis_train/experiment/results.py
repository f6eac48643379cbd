"""One run's numbers for the comparison, read from its ``metrics.jsonl`` through ``pixelis_train.runlog``.

Per run: the final held-out metrics per category and overall, and the learning curve (eval step ->
overall token accuracy and loss). "Overall" pools the categories the way one evaluation over the
whole eval set would: token accuracy and loss weighted by the trained tokens of each category,
answer accuracy by its answered samples. A metric a record does not carry, or carries as null (answer accuracy
when it was not computed at that evaluation, a loss that was not finite), is "not available" (None),
and so is an overall value with an unavailable part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelis_train.experiment.arms import ERROR_FILE, RunSpec, run_state
from pixelis_train.runlog import METRICS_FILE, EndRecord, EvalRecord, read_run_log

METRICS: tuple[str, ...] = ("token_accuracy", "loss", "answer_accuracy")
"""The compared metrics; token accuracy is the primary one (every evaluation has it)."""
HIGHER_IS_BETTER = {"token_accuracy": True, "loss": False, "answer_accuracy": True}
OVERALL = "overall"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _pooled(parts: list[tuple[float | None, float | None]]) -> float | None:
    """The weighted mean of (value, weight) pairs; None if a value is missing; equal weights without counts."""
    if not parts or any(v is None for v, _ in parts):
        return None
    values = [float(v) for v, _ in parts]  # type: ignore[arg-type]
    weights = [w for _, w in parts]
    if any(w is None for w in weights) or math.fsum(weights) <= 0:  # type: ignore[arg-type]
        weights = [1.0] * len(values)
    return math.fsum(v * w for v, w in zip(values, weights, strict=True)) / math.fsum(weights)  # type: ignore[misc]


def overall_metrics(categories: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Each metric pooled over the categories: token accuracy and loss by trained tokens, answer accuracy
    by answered samples (``n_answered``, else ``n_samples``); a category with no answered sample adds
    nothing to answer accuracy, any other missing value makes the pooled one missing."""
    out: dict[str, float | None] = {}
    for metric in ("token_accuracy", "loss"):
        out[metric] = _pooled([(_number(m.get(metric)), _number(m.get("n_tokens"))) for m in categories.values()])
    answers = []
    for m in categories.values():
        weight = _number(m.get("n_answered", m.get("n_samples")))
        value = _number(m.get("answer_accuracy"))
        if value is None and weight == 0:
            continue  # nothing to answer in this category: not a missing number
        answers.append((value, weight))
    out["answer_accuracy"] = _pooled(answers)
    return out


def eval_metrics(record: EvalRecord) -> dict[str, dict[str, float | None]]:
    """``{scope: {metric: value}}`` of one evaluation: every category, then ``overall``."""
    scopes = {c: {m: _number(values.get(m)) for m in METRICS} for c, values in record.categories.items()}
    scopes[OVERALL] = overall_metrics(record.categories)
    return scopes


@dataclass(frozen=True)
class RunResult:
    """What one run contributes to the comparison."""

    arm: str
    seed: int
    run_dir: Path
    state: str
    """'finished' (counted), 'partial' (started, not finished: left out) or 'new' (never started)."""
    failed: bool = False
    """The last attempt failed (its error.txt is in the run directory)."""
    final_step: int | None = None
    stopped: str | None = None
    final: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """``{scope: {metric: value}}`` of the last evaluation; scopes are the categories and 'overall'."""
    curve: list[tuple[int, float | None, float | None]] = field(default_factory=list)
    """(eval step, overall token accuracy, overall loss), by step."""
    bad_lines: int = 0

    @property
    def counted(self) -> bool:
        return self.state == "finished"

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "seed": self.seed,
            "run_dir": str(self.run_dir),
            "state": self.state,
            "failed": self.failed,
            "final_step": self.final_step,
            "stopped": self.stopped,
            "final": self.final,
            "curve": [{"step": s, "token_accuracy": a, "loss": loss} for s, a, loss in self.curve],
            "bad_lines": self.bad_lines,
        }


def read_run(spec: RunSpec) -> RunResult:
    """The numbers of ``spec``'s run directory (empty ones for a run that has no log yet)."""
    state = run_state(spec.run_dir)
    failed = (spec.run_dir / ERROR_FILE).is_file()
    path = spec.run_dir / METRICS_FILE
    if not path.is_file():
        return RunResult(spec.arm, spec.seed, spec.run_dir, state, failed)
    log = read_run_log(path)
    by_step: dict[int, EvalRecord] = {}
    for record in log.of(EvalRecord):
        by_step[record.step] = record  # a step logged twice (never after a clean resume): the later one
    steps = sorted(by_step)
    curve = []
    for step in steps:
        overall = eval_metrics(by_step[step])[OVERALL]
        curve.append((step, overall["token_accuracy"], overall["loss"]))
    ends = log.of(EndRecord)
    return RunResult(
        arm=spec.arm,
        seed=spec.seed,
        run_dir=spec.run_dir,
        state=state,
        failed=failed,
        final_step=ends[-1].step if ends else None,
        stopped=ends[-1].stopped if ends else None,
        final=eval_metrics(by_step[steps[-1]]) if steps else {},
        curve=curve,
        bad_lines=log.bad_lines,
    )
