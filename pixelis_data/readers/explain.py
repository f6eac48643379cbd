"""Why the JSON engine refused a record text: the reasons of docs/formats.md ("Defined behaviour"), in Python.

Only texts the engine flagged come here (malformed, not an object, a duplicate key, a step that is not
an object, or text that may hold ``NaN`` / ``Infinity`` / a trailing comma), so the cost is per bad record.
"""

from __future__ import annotations

import json
from typing import Any


class _Object(dict):
    """A decoded JSON object that remembers its first duplicate key (the engine's rule is checked per level)."""

    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object()
    for key, value in pairs:
        if key in out and out.duplicate is None:
            out.duplicate = key
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def kind(value: Any) -> str:
    """'an object', 'a list', ... for reasons."""
    if isinstance(value, dict):
        return "an object"
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def strict_loads(text: str) -> Any:
    """``json.loads`` of strict JSON (no ``NaN`` / ``Infinity``) whose strings are valid Unicode, else ValueError."""
    value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    json.dumps(value, ensure_ascii=False).encode()  # a lone surrogate escape cannot be encoded
    return value


TEXT_FIELDS = ("task_type", "sample_type", "question", "image_path", "answer", "ground_truth", "source_format")
STEP_TEXT = ("action", "thought")


def _field_problem(record: dict[str, Any]) -> str | None:
    """The first field of a pixelis record whose JSON type the rules refuse (docs/formats.md), or None."""
    sid = record.get("sample_id")
    if sid is not None and not isinstance(sid, str) and not (isinstance(sid, int) and not isinstance(sid, bool)):
        return f"sample_id must be a string or an integer, got {kind(sid)}"
    for name in TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a string, got {kind(value)}"
    weight = record.get("sampling_weight")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
        return f"sampling_weight must be a finite number, got {kind(weight)} ({json.dumps(weight)})"
    images = record.get("images")
    if isinstance(images, list) and not all(isinstance(i, str) for i in images):
        return "images must be a list of paths (strings)"
    if images is not None and not isinstance(images, (list, str)):
        return f"images must be a list of paths, got {kind(images)}"
    trajectory = record.get("trajectory")
    if trajectory is not None and not isinstance(trajectory, list):
        return f"trajectory must be a list, got {kind(trajectory)}"
    for i, step in enumerate(trajectory or []):
        if step is None:
            return f"trajectory[{i}] is null"
        if not isinstance(step, dict):
            return f"trajectory[{i}] must be an object, got {kind(step)}"
        if isinstance(step, _Object) and step.duplicate is not None:
            return f"duplicate key {step.duplicate!r} in trajectory[{i}]"
        for name in STEP_TEXT:
            value = step.get(name)
            if value is not None and not isinstance(value, str):
                return f"trajectory[{i}].{name} must be a string, got {kind(value)}"
    return None


def explain(text: str, engine_refused: bool, *, pixelis: bool) -> str | None:
    """The reject reason of a record text, or None when it holds nothing these rules refuse.

    ``pixelis``: also the rules of the pixelis format (an object; field types; steps that are objects
    without duplicate keys). What ``canonicalize`` checks on the values (a missing trajectory, a step
    without action, a negative weight) is not repeated here.
    """
    try:
        value = strict_loads(text)
    except UnicodeEncodeError:
        return "not valid Unicode: a lone surrogate escape (\\ud800-\\udfff without its pair)"
    except RecursionError:
        return "malformed JSON: nested too deeply"
    except ValueError as err:
        return f"malformed JSON: {err}"
    if isinstance(value, _Object) and value.duplicate is not None:
        return f"duplicate key {value.duplicate!r}"
    if not pixelis:
        return "malformed JSON: refused by the JSON engine" if engine_refused else None
    if not isinstance(value, dict):
        return f"expected a JSON object, got {kind(value)}"
    problem = _field_problem(value)
    if problem is None and engine_refused:
        return "malformed JSON: refused by the JSON engine"
    return problem
