"""Curriculum events -> the stage timeline: the one place that turns decisions into stretches of steps.

The training loop (its run summary), ``pixelis curriculum simulate`` and the run report all call
:func:`stage_timeline`, so a stage change, a segment and a cooldown mean the same thing everywhere.
Weights decided at step ``t`` apply from step ``t + 1`` (docs/design.md §6), so a segment covers the
steps ``start + 1 .. end``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pixelis_train.curriculum.events import Event


@dataclass(frozen=True)
class Segment:
    """Steps ``start+1 .. end`` trained on one stage's mixture at one interval scale."""

    start: int
    end: int
    stage: int
    stage_name: str
    interval_scale: float


@dataclass(frozen=True)
class Cooldown:
    """No unforced advance between ``start`` (a rollback) and ``end`` (the policy's ``cooldown_until``)."""

    start: int
    end: int


@dataclass(frozen=True)
class StageChange:
    """An event after which another stage is in force (what the run summary's timeline table lists)."""

    step: int
    before: str
    """Name of the stage in force before the event."""
    after: str
    """Name of the stage in force after it."""
    kind: str
    reason: str


@dataclass(frozen=True)
class Timeline:
    """Segments, cooldowns and stage changes of one run (or simulation)."""

    segments: tuple[Segment, ...]
    cooldowns: tuple[Cooldown, ...]
    changes: tuple[StageChange, ...]


def stage_timeline(
    events: Sequence[Event], *, first_stage: int, first_name: str, end: int, first_scale: float = 1.0
) -> Timeline:
    """The timeline of ``events`` (in step order) for a run that started in ``first_stage`` and ran to ``end``.

    A new segment starts at every event that changes the stage or the interval scale; the last segment
    runs to ``end`` (the last step trained, which may lie past the last evaluation). A cooldown is the
    range a rollback event announces in its numbers (``cooldown_until``), not cut at ``end``.
    """
    names = {first_stage: first_name}
    segments: list[Segment] = []
    changes: list[StageChange] = []
    start, stage, scale = 0, first_stage, first_scale
    for event in events:
        names[event.stage_after] = event.stage_name
        if event.stage_after != stage:
            changes.append(StageChange(event.step, names[stage], event.stage_name, event.kind, event.reason))
        if event.stage_after != stage or event.interval_scale != scale:
            segments.append(Segment(start, event.step, stage, names[stage], scale))
            start, stage, scale = event.step, event.stage_after, event.interval_scale
    segments.append(Segment(start, max(end, start), stage, names[stage], scale))
    return Timeline(tuple(segments), tuple(_cooldowns(events)), tuple(changes))


def _cooldowns(events: Sequence[Event]) -> list[Cooldown]:
    found = []
    for event in events:
        until = event.numbers.get("cooldown_until")
        if event.kind == "rollback" and isinstance(until, (int, float)):
            found.append(Cooldown(event.step, int(until)))
    return found
