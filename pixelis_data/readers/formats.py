"""Record formats (adapters to the pixelis format) and per-file auto-detection."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

from pixelis_data.readers.base import RecordAdapter
from pixelis_data.readers.files import InputError
from pixelis_data.readers.pixelis import PixelisAdapter

# Detection order matters: more specific formats first; pixelis last-but-one is fine because its
# detect() requires steps with an "action" key.
ADAPTERS: dict[str, RecordAdapter] = {"pixelis": PixelisAdapter()}
DETECT_SAMPLE = 50


def _jsonl_head(path: Path) -> list[Any]:
    values = []
    with open(path, "rb") as fh:
        for raw in islice(fh, DETECT_SAMPLE * 4):
            if not raw.strip():
                continue
            try:
                values.append(json.loads(raw))
            except ValueError:
                continue
            if len(values) >= DETECT_SAMPLE:
                break
    return values


def detect_format(path: Path, sample: list[Any] | None) -> RecordAdapter:
    """The adapter whose ``detect`` accepts the first records of ``path`` (read from disk when None)."""
    records = sample if sample is not None else _jsonl_head(path)
    for adapter in ADAPTERS.values():
        if any(adapter.detect(r) for r in records):
            return adapter
    shown = f"{len(records)} records looked at" if records else "no parseable record found"
    raise InputError(
        f"{path}: no known record format fits ({shown}; tried {', '.join(ADAPTERS)}); "
        "use --format to force one, then records that do not fit become rejects"
    )
