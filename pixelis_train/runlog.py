"""The run log contract: the record kinds of ``metrics.jsonl``, for the loop that writes and the report that reads.

One JSON object per line, each with ``kind`` and the optimizer ``step``:

- ``start``: base model, parameter counts, device, process layout, the stage the run starts in;
- ``train``: every ``logging.every`` steps: loss, lr, grad norm, throughput, stage in force;
- ``eval``: per-category metrics as ``<category>/<field>`` numbers and per skill of each category as
  ``<category>/skill/<skill>/<field>`` (``final`` on the summary-only last one);
- ``curriculum``: the policy's event (``Event.to_json()``) and its ``curriculum/*`` numbers for the sinks;
- ``checkpoint``: where the checkpoint of that step went;
- ``resume``: a resume that applied config changes (``--allow-config-change``): key -> [before, after];
- ``end``: how the run stopped, where the time went (``time_*``) and the sample counts (``samples_*``).

Writer and reader both go through these classes, so renaming a field is one change here, never a
silent mismatch. Torch-free: the report reads logs without the training dependencies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from pixelis_core.atomic import write_text_atomic
from pixelis_core.json_safe import json_safe
from pixelis_train.curriculum.events import Event

METRICS_FILE = "metrics.jsonl"
SKILL_PREFIX = "skill/"
"""Marks a per-skill number inside a category's namespace of an eval line: ``<category>/skill/<skill>/<field>``."""


class RunLogError(ValueError):
    """A line of metrics.jsonl that is JSON but not one of the record kinds below."""


@dataclass(frozen=True)
class StartRecord:
    """The first line of a run (a resumed run keeps the original one)."""

    kind: ClassVar[str] = "start"
    step: int
    base_model: str
    trainable_params: int
    total_params: int
    device: str
    world_size: int = 1
    strategy: str = "none"
    stage: int = 0
    """Stage index the curriculum starts in."""
    stage_name: str | None = None
    """Its name (None in logs written before this field existed)."""


@dataclass(frozen=True)
class TrainRecord:
    """Averages over the steps since the previous train record."""

    kind: ClassVar[str] = "train"
    step: int
    loss: float | None
    lr: float
    grad_norm: float | None
    tokens_per_s: float
    samples_per_s: float
    stage: str
    """Name of the stage in force."""
    skipped_samples: int = 0


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation on the held-out set: ``categories[c][field]`` (CategoryMetrics fields) and the same
    numbers per skill of each category, ``skills[c][skill][field]`` (skill ``task_type/<name>`` or ``op/<NAME>``).

    In the file a category's number is ``<category>/<field>`` and a skill's ``<category>/skill/<skill>/<field>``
    (``simple/skill/op/ZOOM_IN/loss``): flat numbers the sinks can plot, and inside the category's own
    namespace, so a reader that knows only ``<category>/<field>`` sees the same categories as before.
    """

    kind: ClassVar[str] = "eval"
    step: int
    metric: str
    """The curriculum metric (what the policy and early stopping read)."""
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    final: bool = False
    """True for the last evaluation taken after the final step for the summary (no decision follows it)."""
    skills: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Category -> skill -> CategoryMetrics fields (empty in logs written before skills existed)."""

    def to_json(self) -> dict[str, Any]:
        flat = {f"{c}/{k}": v for c, m in self.categories.items() for k, v in m.items()}
        per_skill = {
            f"{c}/{SKILL_PREFIX}{s}/{k}": v
            for c, skills in self.skills.items()
            for s, m in skills.items()
            for k, v in m.items()
        }
        final = {"final": True} if self.final else {}  # absent, not false, on the evaluations that decide
        return {"kind": self.kind, "step": self.step, "metric": self.metric, **flat, **per_skill, **final}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalRecord:
        categories: dict[str, dict[str, Any]] = {}
        skills: dict[str, dict[str, dict[str, Any]]] = {}
        for key, value in data.items():
            if "/" not in key:
                continue
            category, name = key.split("/", 1)
            if name.startswith(SKILL_PREFIX):
                # the field is the last part: a skill's name may itself contain "/" (task_type/<name>)
                skill, number = name.removeprefix(SKILL_PREFIX).rsplit("/", 1)
                skills.setdefault(category, {}).setdefault(skill, {})[number] = value
            else:
                categories.setdefault(category, {})[name] = value
        return cls(int(data["step"]), str(data["metric"]), categories, bool(data.get("final", False)), skills)


@dataclass(frozen=True)
class CurriculumRecord:
    """The policy's decision after an evaluation."""

    kind: ClassVar[str] = "curriculum"
    step: int
    event: Event

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "step": self.step, "event": self.event.to_json(), **self.event.metrics()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CurriculumRecord:
        return cls(int(data["step"]), Event.from_json(data["event"]))


@dataclass(frozen=True)
class CheckpointRecord:
    """A complete checkpoint was written for ``step``."""

    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass(frozen=True)
class ResumeRecord:
    """A resume from ``checkpoint`` (every resume writes one), with the config changes the user allowed."""

    kind: ClassVar[str] = "resume"
    step: int
    checkpoint: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    """Config key -> [the checkpoint's value, the value the run goes on with]."""


@dataclass(frozen=True)
class EndRecord:
    """The last line of a run that returned (completed, stopped early or interrupted by a signal)."""

    kind: ClassVar[str] = "end"
    step: int
    stopped: str
    times: dict[str, float] = field(default_factory=dict)
    """Seconds: total, data, compute, eval, checkpoint (``time_<name>`` in the file)."""
    samples: dict[str, int] = field(default_factory=dict)
    """Formatted / skipped / truncated sample counts (``samples_<name>`` in the file)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "step": self.step,
            "stopped": self.stopped,
            **{f"time_{k}": v for k, v in self.times.items()},
            **{f"samples_{k}": v for k, v in self.samples.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndRecord:
        times = {k.removeprefix("time_"): float(v) for k, v in data.items() if k.startswith("time_")}
        samples = {k.removeprefix("samples_"): int(v) for k, v in data.items() if k.startswith("samples_")}
        return cls(int(data["step"]), str(data["stopped"]), times, samples)


Record = StartRecord | TrainRecord | EvalRecord | CurriculumRecord | CheckpointRecord | ResumeRecord | EndRecord
RECORD_KINDS: dict[str, type] = {
    cls.kind: cls
    for cls in (StartRecord, TrainRecord, EvalRecord, CurriculumRecord, CheckpointRecord, ResumeRecord, EndRecord)
}


def to_json(record: Record) -> dict[str, Any]:
    """The JSON object of ``record`` (``kind`` first)."""
    custom = getattr(record, "to_json", None)
    if custom is not None:
        return custom()
    return {"kind": record.kind, **asdict(record)}


def from_json(data: Any) -> Record:
    """The record of one parsed line; :class:`RunLogError` names what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or not isinstance(data.get("step"), int):
        raise RunLogError(f"not a run-log record (needs a string 'kind' and an integer 'step'): {str(data)[:120]}")
    cls = RECORD_KINDS.get(data["kind"])
    if cls is None:
        raise RunLogError(f"unknown record kind {data['kind']!r} (known: {', '.join(RECORD_KINDS)})")
    try:
        if hasattr(cls, "from_json"):
            return cls.from_json(data)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
    except (KeyError, TypeError, ValueError) as err:
        raise RunLogError(f"a {data['kind']!r} record that does not fit its kind ({err}): {str(data)[:120]}") from None


def dumps(record: Record) -> str:
    """One line of metrics.jsonl: keys sorted (the same record is the same bytes), non-finite numbers null."""
    return json.dumps(json_safe(to_json(record)), sort_keys=True)


@dataclass(frozen=True)
class RunLog:
    """The records of a metrics.jsonl file, in order, and the number of lines that were not records."""

    records: list[Record]
    bad_lines: int = 0

    def as_json(self) -> list[dict[str, Any]]:
        """The records as the JSON objects of their lines (e.g. for a DataFrame)."""
        return [to_json(r) for r in self.records]

    def of(self, cls: type) -> list[Any]:
        """The records of one kind, e.g. ``log.of(TrainRecord)``."""
        return [r for r in self.records if isinstance(r, cls)]


def read_run_log(path: Path) -> RunLog:
    """Parse ``path``; lines torn by a kill mid-write (or otherwise not records) are counted, not fatal."""
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(from_json(json.loads(line)))
        except (ValueError, RunLogError):
            bad += 1
    return RunLog(records, bad)


def truncate_run_log(path: Path, last_step: int) -> None:
    """Keep only the lines of records with ``step <= last_step`` (atomically); used when resuming."""
    reconcile_run_log(path, last_step, None)


def reconcile_run_log(path: Path, last_step: int, checkpoint: str | None) -> None:
    """Make the log agree with the checkpoint a run resumes from (atomically), whatever a kill left.

    Lines of records after ``last_step`` are dropped (the training they describe is redone), as are
    lines torn mid-write. When ``checkpoint`` (the directory of the step-``last_step`` checkpoint) is
    given and the log lacks its ``checkpoint`` record (killed after the directory was renamed in, before
    the line was written), the record is appended: it is the last line the run wrote for that step.
    """
    if not path.exists():
        return
    kept, logged = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = from_json(json.loads(line))
        except (ValueError, RunLogError):
            continue  # a line torn by a kill mid-write; the work it describes is redone
        if record.step <= last_step:
            kept.append(line)
            logged = logged or (isinstance(record, CheckpointRecord) and record.step == last_step)
    if checkpoint is not None and not logged:
        kept.append(dumps(CheckpointRecord(step=last_step, path=checkpoint)))
    write_text_atomic(path, "".join(line + "\n" for line in kept))
