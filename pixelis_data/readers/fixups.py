"""The few records the engine hands back to Python, built by the same rules (docs/formats.md, "Defined behaviour").

``explain`` gives the reason of a flagged record; this module builds ``extra`` and the trajectory of the
records the SQL does not build itself (a string ``parameters``, unknown step keys, an ``extra`` that is
not an object, an unknown field that collides with an ``extra`` key, many distinct unknown fields). Their
JSON texts are serialised by the engine (``normalise``), so they equal what the SQL path writes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from pixelis_data.readers.base import RecordError
from pixelis_data.readers.explain import strict_loads
from pixelis_data.readers.pixelis import PixelisAdapter

Normalise = Callable[[list[str]], list[str]]


def _parameters(value: Any) -> str | None:
    """The JSON text (before normalising) of a step's parameters: a string holding JSON is that JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError, RecursionError):
            json.loads(value)
            return value
    return json.dumps(value, ensure_ascii=False)


def _record(text: str) -> dict[str, Any]:
    record = strict_loads(text)
    own = record.get("extra")
    if isinstance(own, str):  # extra as JSON text (how canonical files store it) is that object
        with contextlib.suppress(ValueError):
            parsed = json.loads(own)
            if isinstance(parsed, dict):
                record["extra"] = parsed
    return record


class _Slot(int):
    """Index of a JSON text waiting to be normalised (so a plain string result is never mistaken for one)."""


def _push(pending: list[str], text: str | None) -> _Slot | None:
    if text is None:
        return None
    pending.append(text)
    return _Slot(len(pending) - 1)


def rebuild(texts: list[str], normalise: Normalise) -> list[tuple[str | None, list[dict[str, Any]] | None] | None]:
    """(extra, trajectory) of each record text, every JSON text in the engine's form; None: leave the row as is."""
    pending: list[str] = []
    plans: list[Any] = []
    for text in texts:
        record = _record(text)
        try:
            extra = PixelisAdapter().to_pixelis(record).get("extra")
        except RecordError:  # canonicalize rejects the record (e.g. it has no trajectory): nothing to build
            plans.append(None)
            continue
        extra_slot = _push(pending, None if extra is None else json.dumps(extra, ensure_ascii=False))
        steps = []
        for step in record.get("trajectory") or []:
            result = step.get("result")
            if not (isinstance(result, str) or result is None):
                result = _push(pending, json.dumps(result, ensure_ascii=False))
            parameters = _push(pending, _parameters(step.get("parameters")))
            steps.append(
                {
                    "action": step.get("action"),
                    "thought": step.get("thought"),
                    "parameters": parameters,
                    "result": result,
                }
            )
        plans.append((extra_slot, steps if isinstance(record.get("trajectory"), list) else None))
    done = normalise(pending)

    def resolve(value: Any) -> Any:
        return done[value] if isinstance(value, _Slot) else value

    return [
        None
        if plan is None
        else (resolve(plan[0]), None if plan[1] is None else [{k: resolve(v) for k, v in s.items()} for s in plan[1]])
        for plan in plans
    ]
