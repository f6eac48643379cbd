"""Qwen tool-call message lists (Pixel Reasoner, DeepEyes; docs/design.md §3, format 4).

A record holds a chat (under ``messages``, ``conversations``, ``pred_output``, ...; or is one). Assistant
turns hold ``<think>…</think>``, free reasoning text, ``<tool_call>{"name", "arguments"}</tool_call>``
(one or several; a missing closing tag at the end of the turn is tolerated) and ``<answer>…</answer>``;
the user/tool turns after a call are its observation. Mapping:

- reasoning (think blocks and free text) before a call, or at the end of a turn -> one THINK step;
- each tool call -> a step named after the tool (the alias table normalises it), ``arguments`` ->
  ``parameters``, the following observation -> ``result`` (of the turn's last call, or one per call
  when there are as many tool turns as calls);
- the first user turn -> ``question`` (unless the record has a ``question`` field: then the full
  prompt goes to ``extra.prompt``) and its images -> ``images`` (unless the record has image fields);
- the model's answer: a record-level ``pred_ans`` (DeepEyes), else the last ``<answer>`` block, else the
  final turn's text when it calls no tool; the record's ``answer`` is then its ``ground_truth``. A
  ``pred_ans`` holding tags is raw model output: it is read as the last assistant turn when the chat
  does not end with one (and kept in ``extra``);
- system prompt, status and every other field -> ``extra``.
"""

from __future__ import annotations

import contextlib
import json
import re
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
)

PRED_KEYS = ("pred_ans", "pred_answer", "prediction", "model_answer")
SEGMENT = re.compile(
    r"<think>(?P<think>.*?)(?:</think>|\Z)"
    r"|<tool_call>(?P<call>.*?)(?:</tool_call>|(?=<tool_call>)|\Z)"
    r"|<answer>(?P<answer>.*?)(?:</answer>|\Z)",
    re.S,
)
STRAY_TAG = re.compile(r"</?(?:think|answer|tool_call)>")
# Models sometimes answer inside their think block (DeepEyes does); that answer is not reasoning.
INNER_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.S)
_DECODER = json.JSONDecoder()


def _tool_call(body: str, where: str) -> tuple[dict[str, Any], str]:
    """(call, trailing text) from the text inside <tool_call>; raises RecordError if it is not a call."""
    text = body.strip()
    try:
        call, end = _DECODER.raw_decode(text)
    except ValueError as err:
        raise RecordError(f"{where}: <tool_call> does not hold JSON ({err})") from None
    return _call_object(call, where), text[end:]


def _call_object(call: Any, where: str) -> dict[str, Any]:
    if isinstance(call, dict) and isinstance(call.get("function"), dict):
        call = call["function"]
    if not isinstance(call, dict):
        raise RecordError(f"{where}: a tool call must be an object with a name, got {kind(call)}")
    name = call.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RecordError(f"{where}: a tool call has no name (got {name!r})")
    args = call.get("arguments", call.get("parameters"))
    if isinstance(args, str):
        with contextlib.suppress(ValueError):  # arguments that are plain text stay text
            args = json.loads(args)
    return {"name": name, "arguments": args}


class _Turns:
    """Walks the assistant turns, collecting steps, answers and the last turn's free text."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.answer_block: str | None = None
        self.final_text: str | None = None

    def assistant(self, turn: Turn, is_last: bool) -> list[dict[str, Any]]:
        reasoning: list[str] = []
        free: list[str] = []
        calls: list[dict[str, Any]] = []
        where = f"messages[{turn.index}]"

        def flush() -> None:
            if reasoning:
                self.steps.append(think("\n\n".join(reasoning)))
                reasoning.clear()

        def text_piece(piece: str) -> None:
            piece = STRAY_TAG.sub("", piece).strip()
            if piece:
                reasoning.append(piece)
                free.append(piece)

        pos = 0
        for match in SEGMENT.finditer(turn.text):
            text_piece(turn.text[pos : match.start()])
            pos = match.end()
            if match.group("think") is not None:
                body = match.group("think")
                for inner in INNER_ANSWER.finditer(body):
                    self.answer_block = inner.group(1).strip()
                body = STRAY_TAG.sub("", INNER_ANSWER.sub("", body)).strip()
                if body:
                    reasoning.append(body)
            elif match.group("call") is not None:
                call, trailing = _tool_call(match.group("call"), where)
                flush()
                self.steps.append(step(call["name"], parameters=call["arguments"]))
                calls.append(self.steps[-1])
                text_piece(trailing)
            else:
                self.answer_block = match.group("answer").strip()
        text_piece(turn.text[pos:])
        for i, raw in enumerate(turn.tool_calls):
            call = _call_object(raw, f"{where}.tool_calls[{i}]")
            flush()
            self.steps.append(step(call["name"], parameters=call["arguments"]))
            calls.append(self.steps[-1])
        if is_last and not calls and self.answer_block is None and free:
            # a final turn without tags answers in plain text: that text is the answer, not a THINK
            self.final_text = "\n\n".join(free)
            reasoning[:] = [r for r in reasoning if r not in free]
        flush()
        return calls


def _assign(calls: list[dict[str, Any]], answers: list[Turn]) -> None:
    if not calls or not answers:
        return
    if len(calls) == len(answers) > 1:
        for call, turn in zip(calls, answers, strict=True):
            _set_result(call, observation([turn]))
    else:
        _set_result(calls[-1], observation(answers))


def _set_result(call: dict[str, Any], result: Any) -> None:
    if result is not None:
        call["result"] = result


class QwenToolCallAdapter:
    """Qwen-style chats with ``<think>``, ``<tool_call>`` and ``<answer>`` (Pixel Reasoner, DeepEyes)."""

    name = "qwen_tool_calls"

    def detect(self, record: Any) -> bool:
        _, messages = find_messages(record)
        if messages is None:
            return False
        return any(
            isinstance(m, dict) and str(m.get("role", m.get("from"))).lower() in ("assistant", "gpt") for m in messages
        )

    def to_pixelis(self, record: Any) -> dict[str, Any]:
        opened = open_chat(record)
        fields, turns, chat, extra = opened.fields, opened.turns, opened.chat, opened.extra
        walker = _Turns()
        pred_key = next((k for k in PRED_KEYS if isinstance(fields.get(k), str)), None)
        if pred_key and SEGMENT.search(fields[pred_key]):
            # raw model output rather than an answer (DeepEyes keeps an unfinished last turn there):
            # it is the last assistant turn unless the chat already ends with one; kept in extra as is
            if chat and chat[-1].role != "assistant":
                chat.append(Turn(index=len(turns), role="assistant", text=fields[pred_key]))
            pred_key = None
        first_user = opened.first_user
        last_assistant = max((i for i, t in enumerate(chat) if t.role == "assistant"), default=-1)
        pending: list[dict[str, Any]] = []
        answers: list[Turn] = []
        followups: list[dict[str, Any]] = []
        for i, turn in enumerate(chat):
            if turn is first_user:
                continue
            if turn.role == "assistant":
                _assign(pending, answers)
                answers = []
                pending = walker.assistant(turn, is_last=i == last_assistant)
            elif pending:
                answers.append(turn)
            else:
                followups.append({"index": turn.index, "role": turn.role, "content": turn.raw_content})
        _assign(pending, answers)
        if followups:
            extra["unanswered_turns"] = followups
        mapped: dict[str, Any] = {"trajectory": walker.steps}
        consumed = {opened.key} if opened.key else set()
        apply_prompt(fields, first_user, mapped, extra)
        model_answer = fields[pred_key] if pred_key else walker.answer_block or walker.final_text
        if pred_key:
            consumed.add(pred_key)
            if walker.answer_block is not None and walker.answer_block != model_answer.strip():
                extra["answer_block"] = walker.answer_block
        if model_answer is not None:
            mapped["answer"] = model_answer.strip()
        answered = model_answer is not None or any(k in fields for k in PRED_KEYS)
        if answered and fields.get("answer") is not None and fields.get("ground_truth") is None:
            # the record's own answer field is then the reference, not the model's answer
            mapped["ground_truth"] = fields["answer"]
            consumed.add("answer")
        turn_extra = message_extras(turns)
        if turn_extra:
            extra["message_extra"] = turn_extra
        return build_record(fields, mapped, source_format=self.name, consumed=consumed, extra=extra)
