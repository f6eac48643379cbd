"""The legs of a run: one per process that trained it (a resumed run has several), read from metrics.jsonl.

A resumed run keeps one log: on resume it is cut back to the checkpoint's step and the new process
appends. What stays of each earlier leg ends with its ``end`` record (a run that returned: completed,
early stop, or interrupted by a signal; it checkpoints at that step, so the line is kept); a record the
resuming process logs first (``start``, or ``resume`` when it applied config changes) also opens a leg.
A leg killed without an end record (SIGKILL, power loss) is told apart only by such a record: without
one its records read as the next leg's. Times are the end records' (``time_*``), so the whole run's time
is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixelis_train.runlog import EndRecord, Record

OPENERS = ("start", "resume")
"""Record kinds that open a leg when they are not the log's first line."""
TIME_PARTS = ("data", "compute", "eval", "checkpoint")
"""The parts of an end record's ``total`` the report shows as shares."""


@dataclass(frozen=True)
class Leg:
    """One process's part of a run."""

    number: int
    """1 for the first leg, 2 for the first resume, ..."""
    start: int
    """Optimizer step it started from: 0, or the checkpoint step a resume continued from."""
    last: int
    """Last step it logged."""
    end: EndRecord | None
    """Its end record; None for a leg still running, or killed before it could write one."""
    changes: dict[str, Any]
    """Config key -> [before, after] that its resume applied (``--allow-config-change``; {} for none)."""

    @property
    def resumed(self) -> bool:
        """Whether this leg continued an earlier one."""
        return self.number > 1


def _opens_leg(records: list[Record], i: int) -> bool:
    """A record after an end record, or a start / resume record that is not the first line, opens a leg."""
    return i > 0 and (isinstance(records[i - 1], EndRecord) or records[i].kind in OPENERS)


def _changes(part: list[Record]) -> dict[str, Any]:
    """What the resume record at the head of a leg changed ({} without one)."""
    head = [r for r in part[:2] if r.kind == "resume"]
    changes = getattr(head[0], "changes", None) if head else None
    return dict(changes) if isinstance(changes, dict) else {}


def run_legs(records: list[Record]) -> list[Leg]:
    """The legs of a run log's records, in order (one leg for a run that never resumed)."""
    if not records:
        return []
    legs: list[Leg] = []
    begin, start = 0, 0
    for i in range(1, len(records) + 1):
        if i < len(records) and not _opens_leg(records, i):
            continue
        part = records[begin:i]
        end = part[-1] if isinstance(part[-1], EndRecord) else None
        last = max(r.step for r in part)
        legs.append(Leg(number=len(legs) + 1, start=start, last=last, end=end, changes=_changes(part)))
        if i < len(records):
            opener = records[i]
            # a resume continues from the checkpoint: the previous leg's last step (the log was cut back to
            # it), or the step a start / resume record names
            start = opener.step if opener.kind in OPENERS and opener.step > 0 else last
            begin = i
    return legs


def total_times(legs: list[Leg]) -> dict[str, float]:
    """Seconds per time part (``total`` and TIME_PARTS) summed over the legs that have an end record."""
    out: dict[str, float] = {}
    for leg in legs:
        if leg.end is None:
            continue
        for key, seconds in leg.end.times.items():
            out[key] = out.get(key, 0.0) + seconds
    return out


def time_line(times: dict[str, float]) -> str:
    """``time 100.0s: data 5.0%, compute 80.0%, ...`` ('' without a total)."""
    total = times.get("total")
    if not total:
        return ""
    return f"time {total:.1f}s: " + ", ".join(f"{k} {times.get(k, 0.0) / total:.1%}" for k in TIME_PARTS)


def legs_sentence(legs: list[Leg]) -> str:
    """How the run went over its legs, with the whole run's time, in one line."""
    last = legs[-1]
    outcome = f"({last.end.stopped})" if last.end is not None else "(in progress or interrupted: no end record)"
    line = f"steps 0 -> {last.last} {outcome}"
    if len(legs) > 1:
        resumes = ", ".join(str(leg.start) for leg in legs[1:])
        line += f" in {len(legs)} legs, resumed at step{'s' if len(legs) > 2 else ''} {resumes}"
    times = total_times(legs)
    if times.get("total"):
        whole = "; whole run " if len(legs) > 1 else "; "
        unknown = [str(leg.number) for leg in legs if leg.end is None]
        line += whole + time_line(times)
        if len(legs) > 1 and unknown:
            line += f" (leg {', '.join(unknown)} has no end record: its time is not counted)"
    return line


def _how(leg: Leg) -> str:
    if not leg.resumed:
        return "started"
    changed = ", ".join(
        f"{k} {' -> '.join(map(str, v)) if isinstance(v, list | tuple) else v}" for k, v in leg.changes.items()
    )
    return f"resumed from the step-{leg.start} checkpoint" + (f", changing {changed}" if changed else "")


def leg_rows(legs: list[Leg]) -> list[list[str]]:
    """One table row per leg: number, steps, how it stopped, its time."""
    return [
        [
            str(leg.number),
            f"{leg.start} -> {leg.last}",
            "-" if leg.end is None else leg.end.stopped,
            "-" if leg.end is None or not leg.end.times.get("total") else f"{leg.end.times['total']:.1f}s",
            _how(leg),
        ]
        for leg in legs
    ]
