"""Legacy step shapes seen in the wild (docs/design.md §3, format 2).

Two shapes of trajectory step, in records that are otherwise pixelis-like (question, answer,
image/image_path, ...)::

    {"type": "visual_operation", "operation": "ZoomIn", "arguments": {...}, "result": ...}
    {"type": "reasoning", "content": "..."}
    {"type": "action", "name": "OCR", "parameters": {...}, "observation": ...}
    {"type": "thought", "content": "..."}

Reasoning/thought steps become THINK steps; operations/actions keep their name (the alias table
normalises it), arguments/parameters become ``parameters`` and result/observation ``result``.
"""

from __future__ import annotations

from typing import Any

from pixelis_data.readers.base import RecordError
from pixelis_data.readers.mapping import build_record, kind, step

THINK_TYPES = ("reasoning", "thought", "think")
ACTION_TYPES = ("visual_operation", "action", "operation", "tool")
TEXT_KEYS = ("content", "thought", "text", "reasoning")
NAME_KEYS = ("operation", "name")
PARAM_KEYS = ("arguments", "parameters")
RESULT_KEYS = ("result", "observation")
STEP_LIST_KEYS = ("trajectory", "steps")


def _first(step_obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in step_obj:
            return key, step_obj[key]
    return None, None


def _steps_key(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    for key in STEP_LIST_KEYS:
        if isinstance(record.get(key), list):
            return key
    return None


def _step_type(raw: dict[str, Any]) -> str | None:
    kind_ = raw.get("type")
    if isinstance(kind_, str):
        return kind_.strip().lower()
    if any(k in raw for k in NAME_KEYS):
        return "action"
    if any(k in raw for k in TEXT_KEYS):
        return "thought"
    return None


class LegacyAdapter:
    """``{type: visual_operation|reasoning, ...}`` and ``{type: thought|action, ...}`` steps."""

    name = "legacy"

    def detect(self, record: Any) -> bool:
        key = _steps_key(record)
        if key is None:
            return False
        steps = [s for s in record[key][:5] if isinstance(s, dict)]
        return bool(steps) and all(
            "action" not in s and str(s.get("type", "")).lower() in THINK_TYPES + ACTION_TYPES for s in steps
        )

    def to_pixelis(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise RecordError(f"expected a JSON object, got {kind(record)}")
        key = _steps_key(record)
        if key is None:
            raise RecordError("missing trajectory (a list of steps under 'trajectory' or 'steps')")
        steps: list[dict[str, Any]] = []
        step_extra: dict[str, Any] = {}
        for i, raw in enumerate(record[key]):
            if not isinstance(raw, dict):
                raise RecordError(f"{key}[{i}] must be an object, got {kind(raw)}")
            step_type = _step_type(raw)
            used = {"type"}
            if step_type in THINK_TYPES:
                text_key, text = _first(raw, TEXT_KEYS)
                used.add(text_key or "")
                result_key, result = _first(raw, RESULT_KEYS)
                used.add(result_key or "")
                steps.append(step("THINK", thought=text, result=result))
            elif step_type in ACTION_TYPES:
                name_key, name = _first(raw, NAME_KEYS)
                if not isinstance(name, str) or not name.strip():
                    raise RecordError(f"{key}[{i}]: a {step_type} step needs an operation name, got {name!r}")
                param_key, params = _first(raw, PARAM_KEYS)
                result_key, result = _first(raw, RESULT_KEYS)
                used |= {name_key or "", param_key or "", result_key or "", "thought"}
                steps.append(step(name, thought=raw.get("thought"), parameters=params, result=result))
            else:
                raise RecordError(
                    f"{key}[{i}]: unknown step type {raw.get('type')!r} "
                    f"(expected one of {', '.join(THINK_TYPES + ACTION_TYPES)})"
                )
            unknown = {k: v for k, v in raw.items() if k not in used}
            if unknown:
                step_extra[str(i)] = unknown
        extra = {"trajectory_extra": step_extra} if step_extra else None
        return build_record(record, {"trajectory": steps}, source_format=self.name, consumed={key}, extra=extra)
