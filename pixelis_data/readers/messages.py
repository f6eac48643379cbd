"""Chat message lists (Qwen / OpenAI / ShareGPT shapes) as plain turns: role, text, media references.

Shared by the Qwen tool-call and TACO chat adapters. Content may be a string or a list of parts
(``{"type": "text", "text"}``, ``{"text"}``, ``{"image"}``, ``{"type": "image_url", "image_url": {"url"}}``,
``{"video"}``); images are kept as references, and a base64 data URL is shortened to
``data:<mime>;base64,<N bytes>`` so that a record never carries a whole image in its text columns.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from pixelis_data.readers.base import RecordError
from pixelis_data.readers.mapping import kind, media_ref

MESSAGE_KEYS = (
    "messages",
    "conversations",
    "conversation",
    "pred_output",
    "message_list",
    "dialog",
    "chat",
    "prompt",
)
ROLE_ALIASES = {
    "human": "user",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "function": "tool",
    "ipython": "tool",
    "observation": "tool",
}
MESSAGE_FIELDS = {"role", "content", "from", "value", "tool_calls"}


@dataclass
class Turn:
    """One message: its normalised role, its text, its media references and what mapped nowhere."""

    index: int
    role: str
    text: str
    images: list[str] = field(default_factory=list)
    videos: list[Any] = field(default_factory=list)
    tool_calls: list[Any] = field(default_factory=list)
    raw_content: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def is_message(value: Any) -> bool:
    """A dict in one of the chat message shapes ({role, content} or ShareGPT's {from, value})."""
    return isinstance(value, dict) and (
        ("role" in value and ("content" in value or "tool_calls" in value)) or ("from" in value and "value" in value)
    )


def find_messages(record: Any) -> tuple[str | None, list[Any] | None]:
    """(key, message list) of a record, or (None, the record) for a bare message list."""
    if isinstance(record, list):
        return (None, record) if record and is_message(record[0]) else (None, None)
    if not isinstance(record, dict):
        return None, None
    for key in MESSAGE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.lstrip().startswith("["):
            with contextlib.suppress(ValueError):  # a chat stored as JSON text
                value = json.loads(value)
        if isinstance(value, list) and value and is_message(value[0]):
            return key, value
    return None, None


def _parts(content: Any, turn: Turn) -> None:
    if content is None:
        return
    if isinstance(content, str):
        turn.text += content
        return
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        raise RecordError(f"messages[{turn.index}].content must be a string or a list of parts, got {kind(content)}")
    unmapped = []
    for part in content:
        if isinstance(part, str):
            turn.text += part
        elif not isinstance(part, dict):
            unmapped.append(part)
        elif isinstance(part.get("text"), str):
            turn.text += part["text"]
        elif "image_url" in part:
            turn.images.append(media_ref(part["image_url"]))
        elif "image" in part:
            turn.images.append(media_ref(part["image"]))
        elif "video" in part:
            video = part["video"]
            turn.videos.append([media_ref(v) for v in video] if isinstance(video, list) else media_ref(video))
        elif part.get("type") in ("image", "video"):
            (turn.images if part["type"] == "image" else turn.videos).append(media_ref(None))
        else:
            unmapped.append(part)
    if unmapped:
        turn.extra["unmapped_parts"] = unmapped


def turns_of(messages: list[Any]) -> list[Turn]:
    """Normalised turns; raises RecordError naming the message that is not a chat message."""
    turns = []
    for i, message in enumerate(messages):
        if not is_message(message):
            raise RecordError(f"messages[{i}] is not a chat message ({{role, content}}), got {kind(message)}")
        role = message.get("role", message.get("from"))
        if not isinstance(role, str):
            raise RecordError(f"messages[{i}].role must be a string, got {kind(role)}")
        role = role.strip().lower()
        turn = Turn(index=i, role=ROLE_ALIASES.get(role, role), text="")
        content = message["content"] if "role" in message else message.get("value")
        turn.raw_content = content
        _parts(content, turn)
        calls = message.get("tool_calls")
        if calls is not None:
            turn.tool_calls = calls if isinstance(calls, list) else [calls]
        other = {k: v for k, v in message.items() if k not in MESSAGE_FIELDS}
        if other:
            turn.extra.update(other)
        turns.append(turn)
    return turns


def observation(turns: list[Turn]) -> Any:
    """The result of a tool call from the turns that answer it: text, or {text, images[, videos]}."""
    text = "\n".join(t.text.strip() for t in turns if t.text.strip())
    images = [ref for t in turns for ref in t.images]
    videos = [ref for t in turns for ref in t.videos]
    if not images and not videos:
        return text or None
    out: dict[str, Any] = {}
    if text:
        out["text"] = text
    if images:
        out["images"] = images
    if videos:
        out["videos"] = videos
    return out


def message_extras(turns: list[Turn]) -> dict[str, Any]:
    """Per-message leftovers (unknown keys, unmapped parts), keyed by message index."""
    return {str(t.index): t.extra for t in turns if t.extra}


def apply_prompt(
    fields: dict[str, Any], first_user: Turn | None, mapped: dict[str, Any], extra: dict[str, Any]
) -> None:
    """The first user turn as question and images, unless the record names its own (then -> extra)."""
    if first_user is None:
        return
    prompt = first_user.text.strip()
    if isinstance(fields.get("question"), str):
        if prompt != fields["question"]:
            extra["prompt"] = prompt  # boilerplate included: not stripped, not lost
    else:
        mapped["question"] = prompt
    if first_user.images:
        if any(fields.get(k) is not None for k in ("images", "image_path", "image")):
            extra["prompt_images"] = first_user.images
        else:
            mapped["images"] = first_user.images
    if first_user.videos:
        extra["prompt_videos"] = first_user.videos


@dataclass
class Chat:
    """A record's chat, opened once for every chat adapter: turns, the first user turn, system prompts in ``extra``."""

    key: str | None
    """The record key the message list was found under (None for a bare list)."""
    fields: dict[str, Any]
    """The record itself when it is an object (else empty): its other fields."""
    turns: list[Turn]
    """Every turn, system ones included."""
    chat: list[Turn]
    """The turns without the system ones."""
    first_user: Turn | None
    """The first user turn: the question and its images."""
    extra: dict[str, Any]
    """Starts with the system prompt(s) under ``system``; adapters add what else maps nowhere."""


def open_chat(record: Any) -> Chat:
    """Find and split a record's message list; RecordError when there is none."""
    key, messages = find_messages(record)
    if messages is None:
        raise RecordError(
            f"no chat message list found (looked for a list of {{role, content}} under "
            f"{', '.join(MESSAGE_KEYS[:3])}, ...; got {kind(record)})"
        )
    turns = turns_of(messages)
    extra: dict[str, Any] = {}
    system = [t.raw_content for t in turns if t.role == "system"]
    if system:
        extra["system"] = system[0] if len(system) == 1 else system
    chat = [t for t in turns if t.role != "system"]
    first_user = next((t for t in chat if t.role == "user"), None)
    fields = record if isinstance(record, dict) else {}
    return Chat(key, fields, turns, chat, first_user, extra)
