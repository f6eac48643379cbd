"""TACO CoTA trajectories and their chat exports (docs/design.md §3, format 3).

``{"steps": [{"thought", "actions": [{"name", "arguments"}], "observation"}]}``: a thought becomes a
THINK step, each action a step with its arguments as ``parameters``, and the step's observation the
``result`` of its last action (of the THINK step when it has no action). The chat export holds the
same in messages: assistant content is the JSON text ``{"thought": ..., "actions": [...]}`` and
observations arrive as ``OBSERVATION: ...`` user turns. A ``Terminate`` action ends the trajectory:
its ``answer`` argument is the answer (the action itself is kept in ``extra.final_action`` only when it
carries more than the answer).
"""

from __future__ import annotations

import json
from typing import Any

from pixelis_data.readers.base import RecordError
from pixelis_data.readers.mapping import build_record, kind, step, think
from pixelis_data.readers.messages import (
    Turn,
    apply_prompt,
    find_messages,
    message_extras,
    observation,
    open_chat,
    turns_of,
)

TERMINATE = ("terminate", "finish", "final_answer", "answer")
OBSERVATION_PREFIX = "OBSERVATION:"
_DECODER = json.JSONDecoder()


class _Builder:
    """Accumulates pixelis steps from TACO (thought, actions, observation) triples."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.answer: Any = None
        self.final_action: dict[str, Any] | None = None

    def add(self, thought: Any, actions: Any, where: str) -> dict[str, Any] | None:
        """Adds one TACO step; returns the pixelis step its observation belongs to (None: none made)."""
        last = None
        if thought is not None and (not isinstance(thought, str) or thought.strip()):
            last = think(thought)
            self.steps.append(last)
        if actions is None:
            actions = []
        if isinstance(actions, dict):
            actions = [actions]
        if not isinstance(actions, list):
            raise RecordError(f"{where}.actions must be a list of {{name, arguments}}, got {kind(actions)}")
        for j, action in enumerate(actions):
            if not isinstance(action, dict):
                raise RecordError(f"{where}.actions[{j}] must be an object, got {kind(action)}")
            name = action.get("name")
            if not isinstance(name, str) or not name.strip():
                raise RecordError(f"{where}.actions[{j}] has no name (got {name!r})")
            args = action.get("arguments", action.get("parameters"))
            if name.strip().lower() in TERMINATE:
                self.answer = args.get("answer") if isinstance(args, dict) else args
                if not (isinstance(args, dict) and set(args) <= {"answer"}) or set(action) - {"name", "arguments"}:
                    self.final_action = action
                continue
            last = step(name, parameters=args)
            self.steps.append(last)
        return last


def _steps_of(record: Any) -> list[Any] | None:
    if isinstance(record, dict) and isinstance(record.get("steps"), list):
        return record["steps"]
    return None


class TacoAdapter:
    """``{"steps": [{"thought", "actions": [{"name", "arguments"}], "observation"}]}``."""

    name = "taco"

    def detect(self, record: Any) -> bool:
        steps = _steps_of(record)
        head = [s for s in (steps or [])[:5] if isinstance(s, dict)]
        return bool(head) and all("actions" in s or ("thought" in s and "type" not in s) for s in head)

    def to_pixelis(self, record: Any) -> dict[str, Any]:
        steps = _steps_of(record)
        if steps is None:
            raise RecordError(f"missing steps (a list of {{thought, actions, observation}}), got {kind(record)}")
        builder = _Builder()
        step_extra: dict[str, Any] = {}
        for i, raw in enumerate(steps):
            if not isinstance(raw, dict):
                raise RecordError(f"steps[{i}] must be an object, got {kind(raw)}")
            target = builder.add(raw.get("thought"), raw.get("actions"), f"steps[{i}]")
            unknown = {k: v for k, v in raw.items() if k not in ("thought", "actions", "observation")}
            if "observation" in raw:
                if target is not None:
                    target["result"] = raw["observation"]
                else:
                    unknown["observation"] = raw["observation"]
            if unknown:
                step_extra[str(i)] = unknown
        return _finish(record, builder, {"steps"}, {"trajectory_extra": step_extra} if step_extra else {}, "taco")


def _assistant_json(turn: Turn) -> dict[str, Any] | None:
    text = turn.text.strip()
    if text.startswith("```"):  # a fenced code block around the JSON
        text = text.strip("`").strip()
        text = text[4:] if text.startswith("json") else text
        text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        value, _ = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and ("actions" in value or "thought" in value) else None


class TacoChatAdapter:
    """TACO chat exports: assistant turns are JSON ``{thought, actions}``, ``OBSERVATION:`` user turns."""

    name = "taco_chat"

    def detect(self, record: Any) -> bool:
        _, messages = find_messages(record)
        if messages is None:
            return False
        try:
            turns = turns_of(messages)
        except RecordError:
            return False
        return any(t.role == "assistant" and _assistant_json(t) is not None for t in turns)

    def to_pixelis(self, record: Any) -> dict[str, Any]:
        opened = open_chat(record)
        fields, turns, chat, first_user, extra = (
            opened.fields,
            opened.turns,
            opened.chat,
            opened.first_user,
            opened.extra,
        )
        builder = _Builder()
        target: dict[str, Any] | None = None
        pending: list[Turn] = []
        unmatched: list[dict[str, Any]] = []

        def settle() -> None:
            if pending and target is not None:
                result = observation(pending)
                if result is not None:
                    target["result"] = result
            elif pending:
                unmatched.extend({"index": t.index, "role": t.role, "content": t.raw_content} for t in pending)
            pending.clear()

        for turn in chat:
            if turn is first_user:
                continue
            if turn.role == "assistant":
                settle()
                parsed = _assistant_json(turn)
                if parsed is None:
                    raise RecordError(
                        f"messages[{turn.index}]: assistant content is not the JSON "
                        f'{{"thought", "actions"}} of a TACO chat: {turn.text[:80]!r}'
                    )
                target = builder.add(parsed.get("thought"), parsed.get("actions"), f"messages[{turn.index}]")
            else:
                stripped = turn.text.lstrip()
                if stripped.upper().startswith(OBSERVATION_PREFIX):
                    turn.text = stripped[len(OBSERVATION_PREFIX) :]
                pending.append(turn)
        settle()
        if unmatched:
            extra["unanswered_turns"] = unmatched
        mapped: dict[str, Any] = {}
        apply_prompt(fields, first_user, mapped, extra)
        turn_extra = message_extras(turns)
        if turn_extra:
            extra["message_extra"] = turn_extra
        return _finish(fields, builder, {opened.key} if opened.key else set(), extra, "taco_chat", mapped)


def _finish(
    record: dict[str, Any],
    builder: _Builder,
    consumed: set[str],
    extra: dict[str, Any],
    source_format: str,
    mapped: dict[str, Any] | None = None,
) -> dict[str, Any]:
    mapped = {**(mapped or {}), "trajectory": builder.steps}
    if builder.final_action is not None:
        extra["final_action"] = builder.final_action
    if builder.answer is not None:
        answer = builder.answer
        mapped["answer"] = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        if record.get("answer") is not None and record.get("ground_truth") is None:
            mapped["ground_truth"] = record["answer"]
            consumed = consumed | {"answer"}
    elif record.get("final_answer") is not None:
        mapped["answer"] = record["final_answer"]
        consumed = consumed | {"final_answer"}
    return build_record(record, mapped, source_format=source_format, consumed=consumed, extra=extra)
