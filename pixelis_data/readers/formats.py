"""Record formats (adapters to the pixelis format) and per-file auto-detection."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

from pixelis_data.readers.base import RecordAdapter
from pixelis_data.readers.files import InputError
from pixelis_data.readers.legacy import LegacyAdapter
from pixelis_data.readers.pixelis import PixelisAdapter
from pixelis_data.readers.qwen import QwenToolCallAdapter
from pixelis_data.readers.taco import TacoAdapter, TacoChatAdapter

# Detection order matters: the first adapter that accepts one of a file's first records wins, so the
# more specific shapes come first. pixelis needs steps with an "action" key, legacy steps with a
# legacy "type" and no "action"; TACO chats (assistant content is JSON {thought, actions}) are a
# special case of chat message lists, so taco_chat is tried before qwen_tool_calls, which accepts
# any chat with an assistant turn.
ADAPTERS: dict[str, RecordAdapter] = {
    "pixelis": PixelisAdapter(),
    "legacy": LegacyAdapter(),
    "taco": TacoAdapter(),
    "taco_chat": TacoChatAdapter(),
    "qwen_tool_calls": QwenToolCallAdapter(),
}
DETECT_SAMPLE = 50


def _jsonl_head(path: Path) -> list[Any]:
    values = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(islice(fh, DETECT_SAMPLE * 4)):
            if n == 0:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark (skipped by the reader too)
            if not raw.strip():
                continue
            try:
                values.append(json.loads(raw))
            except (ValueError, RecursionError):
                continue
            if len(values) >= DETECT_SAMPLE:
                break
    return values


def _accepts(adapter: RecordAdapter, record: Any) -> bool:
    try:
        return adapter.detect(record)
    except (ValueError, TypeError, RecursionError):  # a record too odd to look at fits no format
        return False


def detect_format(path: Path, sample: list[Any] | None) -> RecordAdapter:
    """The adapter whose ``detect`` accepts the first records of ``path`` (read from disk when None)."""
    records = sample if sample is not None else _jsonl_head(path)
    for adapter in ADAPTERS.values():
        if any(_accepts(adapter, r) for r in records):
            return adapter
    shown = f"{len(records)} records looked at" if records else "no parseable record found"
    raise InputError(
        f"{path}: no known record format fits ({shown}; tried {', '.join(ADAPTERS)}); "
        "use --format to force one, then records that do not fit become rejects"
    )
