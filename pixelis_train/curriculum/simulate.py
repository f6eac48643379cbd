"""Dry-run a curriculum policy on a performance trace or on the synthetic learner, without a GPU.

The loop is the training loop's: at each evaluation, ``decide``, then ``weights`` for the next steps.
The result is every event plus the timeline (``curriculum/timeline.py``, the same function the run
summary and the run report use): the stage and interval scale in force per step range, and the
cooldown ranges after rollbacks.

The simulator has no split, so the category sizes (what 'none' mixes by default, and what a batch of
'shuffled' really holds) are equal unless ``category_sizes`` is given. Under 'shuffled' every label
stands for a random sample of the pool, so the learner is trained on the pool's mixture (the sizes),
whatever weights the policy puts on the labels: the pacing without the ordering.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pixelis_core.atomic import atomic_path
from pixelis_core.config_io import to_dict
from pixelis_data.schema import CATEGORIES
from pixelis_train.curriculum.config import CurriculumConfig, proportional_weights
from pixelis_train.curriculum.events import Evaluation, Event, is_rejected_advance
from pixelis_train.curriculum.policy import make_policy, schedule_weights, shuffles_labels
from pixelis_train.curriculum.synthetic import LearningCurveModel, SyntheticLearner
from pixelis_train.curriculum.timeline import Cooldown, Segment, Timeline, stage_timeline


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation produced."""

    policy: str
    source: str
    evaluations: list[Evaluation]
    events: list[Event]
    timeline: Timeline
    final_state: dict[str, Any]
    stage_weights: dict[int, dict[str, float]]
    """The category mixture of each stage index (what a segment of that stage trains on)."""

    @property
    def segments(self) -> list[Segment]:
        return list(self.timeline.segments)

    @property
    def cooldowns(self) -> list[Cooldown]:
        return list(self.timeline.cooldowns)

    def counts(self) -> dict[str, int]:
        """Number of events of each kind (a rejected advance is a 'rollback' event: it backs off too)."""
        counts = Counter(e.kind for e in self.events)
        return {k: counts.get(k, 0) for k in ("hold", "advance", "rollback", "forced_advance")}

    def rejected_advances(self) -> int:
        """How many of the rollbacks are advances rolled straight back (the stage never changed)."""
        return sum(is_rejected_advance(e) for e in self.events)

    def jsonl_records(self, cfg: CurriculumConfig) -> list[dict[str, Any]]:
        """A run header, then the segments, cooldowns and events (each with its ``type``)."""
        header = {
            "type": "run",
            "policy": self.policy,
            "source": self.source,
            "config": to_dict(cfg),
            "counts": self.counts(),
            "final_state": self.final_state,
        }
        records = [header]
        records += [{"type": "segment", **asdict(s), "weights": self.stage_weights[s.stage]} for s in self.segments]
        records += [{"type": "cooldown", **asdict(c)} for c in self.cooldowns]
        for event, evaluation in zip(self.events, self.evaluations, strict=True):
            records.append({"type": "event", **event.to_json(), "category_performance": dict(evaluation.performance)})
        return records


def write_jsonl(result: SimulationResult, cfg: CurriculumConfig, path: str | Path) -> None:
    """Write :meth:`SimulationResult.jsonl_records` to ``path`` atomically (one JSON object a line)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for record in result.jsonl_records(cfg):
            fh.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")


def _sizes(category_sizes: Mapping[str, int] | None) -> dict[str, int]:
    return dict(category_sizes) if category_sizes is not None else dict.fromkeys(CATEGORIES, 1)


def simulate_trace(
    cfg: CurriculumConfig,
    evaluations: Iterable[Evaluation],
    *,
    steps: int | None = None,
    source: str = "trace",
    category_sizes: Mapping[str, int] | None = None,
) -> SimulationResult:
    """Run ``cfg``'s policy on recorded evaluations (those after ``steps`` are left out)."""
    chosen = [e for e in evaluations if steps is None or e.step <= steps]
    if not chosen:
        raise ValueError(f"no evaluation at or before step {steps} in the trace")
    cfg = cfg.with_category_sizes(_sizes(category_sizes))
    policy = make_policy(cfg)
    state = policy.initial_state()
    events = []
    for evaluation in chosen:
        state, event = policy.decide(state, evaluation)
        events.append(event)
    return _result(cfg, source, chosen, events, state, end=chosen[-1].step)


def default_steps(cfg: CurriculumConfig) -> int:
    """Simulated length when none is given: twice the planned schedule, in whole eval intervals."""
    planned = max(cfg.planned_total_steps(), cfg.eval_interval)
    return math.ceil(2 * planned / cfg.eval_interval) * cfg.eval_interval


def simulate_model(
    cfg: CurriculumConfig,
    model: LearningCurveModel,
    *,
    steps: int | None = None,
    category_sizes: Mapping[str, int] | None = None,
) -> SimulationResult:
    """Run ``cfg``'s policy on the synthetic learner, evaluating every ``eval_interval`` steps up to ``steps``."""
    steps = default_steps(cfg) if steps is None else steps
    if steps < cfg.eval_interval:
        raise ValueError(f"steps: must be at least eval_interval ({cfg.eval_interval}) to evaluate once (got {steps})")
    sizes = _sizes(category_sizes)
    cfg = cfg.with_category_sizes(sizes)
    pool = proportional_weights(sizes) if shuffles_labels(cfg) else None
    policy = make_policy(cfg)
    learner = SyntheticLearner(model)
    state = policy.initial_state()
    weights = policy.weights(state)
    evaluations, events = [], []
    previous = 0
    for step in range(cfg.eval_interval, steps + 1, cfg.eval_interval):
        learner.train(pool or weights, previous, step)
        evaluation = Evaluation(step, learner.evaluate(step))
        state, event = policy.decide(state, evaluation)
        weights = policy.weights(state)
        evaluations.append(evaluation)
        events.append(event)
        previous = step
    return _result(cfg, f"model {model.describe()}", evaluations, events, state, end=steps)


def _result(
    cfg: CurriculumConfig,
    source: str,
    evaluations: list[Evaluation],
    events: list[Event],
    final_state: dict[str, Any],
    end: int,
) -> SimulationResult:
    policy = make_policy(cfg)
    first = policy.initial_state()
    timeline = stage_timeline(events, first_stage=first["stage"], first_name=policy.stage_name(first), end=end)
    return SimulationResult(cfg.policy, source, evaluations, events, timeline, final_state, schedule_weights(cfg))
