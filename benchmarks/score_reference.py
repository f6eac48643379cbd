"""The straightforward per-sample Python baseline of `pixelis score`: json.loads, score each record, write Parquet.

It uses the same per-sample formulas as the test oracle (tests/score_oracle.py), so its scores can be
compared with pixelis' exactly. Usage: python benchmarks/score_reference.py INPUT.jsonl OUTPUT.parquet
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixelis_data.config import DEFAULT_COMPLEXITY, ReadConfig, alias_key
from tests.score_oracle import score_record

ALIASES = ReadConfig().alias_table(tuple(DEFAULT_COMPLEXITY))


def canonical(rec: dict) -> dict:
    steps = []
    for s in rec["trajectory"]:
        action = s["action"].strip()
        steps.append(
            {
                "action": ALIASES.get(alias_key(action), action),
                "thought": s.get("thought"),
                "parameters": json.dumps(s.get("parameters")) if s.get("parameters") is not None else None,
                "result": s.get("result")
                if isinstance(s.get("result"), (str, type(None)))
                else json.dumps(s["result"]),
            }
        )
    return {
        "sample_id": rec.get("sample_id"),
        "task_type": rec.get("task_type") or "unknown",
        "sample_type": rec.get("sample_type") or "positive",
        "question": rec.get("question"),
        "images": [rec["image_path"]] if rec.get("image_path") else [],
        "trajectory": steps,
        "answer": rec.get("answer"),
        "ground_truth": rec.get("ground_truth"),
        "sampling_weight": rec.get("sampling_weight", 1.0),
    }


def main(src: str, dst: str) -> None:
    writer = None
    rows: list[dict] = []

    def flush() -> None:
        nonlocal writer
        table = pa.Table.from_pylist(rows)
        if writer is None:
            writer = pq.ParquetWriter(dst, table.schema, compression="snappy")  # the codec of pixelis' scores
        writer.write_table(table)
        rows.clear()

    with open(src, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = canonical(json.loads(line))
                rows.append({**rec, **score_record(rec)})
                if len(rows) == 50_000:
                    flush()
    if rows:
        flush()
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
