"""Shared test helpers: canonical frames from plain dicts."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from pixelis_data.schema import CANONICAL_SCHEMA


def canonical_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """A canonical-schema frame from partial records (missing fields null / defaults)."""
    rows = []
    for i, rec in enumerate(records):
        steps = [
            {
                "action": s["action"],
                "thought": s.get("thought"),
                "parameters": s.get("parameters")
                if isinstance(s.get("parameters"), (str, type(None)))
                else json.dumps(s["parameters"]),
                "result": s.get("result"),
            }
            for s in rec.get("trajectory", [])
        ]
        rows.append(
            {
                "sample_id": rec.get("sample_id", f"s{i}"),
                "task_type": rec.get("task_type", "unknown"),
                "sample_type": rec.get("sample_type", "positive"),
                "question": rec.get("question", "q"),
                "images": rec.get("images", []),
                "trajectory": steps,
                "answer": rec.get("answer", "a"),
                "ground_truth": rec.get("ground_truth"),
                "sampling_weight": rec.get("sampling_weight", 1.0),
                "source_format": "pixelis",
                "extra": None,
            }
        )
    return pl.DataFrame(rows, schema=CANONICAL_SCHEMA)


@pytest.fixture
def write_jsonl(tmp_path):
    """Write records (dicts or raw strings) as JSONL and return the path."""

    def _write(records: list[Any], name: str = "in.jsonl"):
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n")
        return path

    return _write
