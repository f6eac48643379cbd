"""`pixelis score` on records of another format (legacy) vs the per-sample Python scorer on the same records.

    OMP_NUM_THREADS=1 python benchmarks/score_foreign.py --samples 20000 --workdir /tmp/score-foreign

Issue #15 asks that the formats with an adapter in Python (legacy, TACO, Qwen tool calls) are not
slower than the per-sample Python scorer on the same records. This writes ``pixelis generate`` samples
twice: as pixelis records, and rewritten in the legacy step shapes (``{"type": "reasoning", "content"}``,
``{"type": "action", "name", "parameters", "observation"}``, ``id`` for ``sample_id``). It then runs, as
separate processes one after the other, the per-sample scorer (benchmarks/score_reference.py) on the
pixelis file and the whole `pixelis score` CLI on the legacy file, and checks that both give the same
scores per sample.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from _measure import measure
from score_throughput import same_scores

PY = sys.executable
PIXELIS = str(Path(PY).with_name("pixelis"))


def as_legacy(record: dict) -> dict:
    """The record in the legacy step shapes (docs/formats.md, legacy)."""
    steps = []
    for s in record["trajectory"]:
        if s["action"] == "THINK":
            steps.append({"type": "reasoning", "content": s.get("thought"), "result": s.get("result")})
        else:
            steps.append(
                {
                    "type": "action",
                    "name": s["action"],
                    "thought": s.get("thought"),
                    "parameters": s.get("parameters"),
                    "observation": s.get("result"),
                }
            )
    out = {k: v for k, v in record.items() if k not in ("sample_id", "trajectory")}
    return {"id": record["sample_id"], **out, "trajectory": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/score-foreign"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    native, legacy = args.workdir / "pixelis.jsonl", args.workdir / "legacy.jsonl"
    gen = [PIXELIS, "generate", str(args.samples), "-o", str(native), "--seed", "0"]
    subprocess.run(gen, check=True, capture_output=True)
    with open(native) as src, open(legacy, "w") as dst:
        for line in src:
            dst.write(json.dumps(as_legacy(json.loads(line)), ensure_ascii=False) + "\n")
    ref_out, ours_out = args.workdir / "ref.parquet", args.workdir / "legacy.scores.parquet"
    runs = [
        measure(
            "per-sample Python (pixelis records)",
            [PY, str(Path(__file__).with_name("score_reference.py")), str(native), str(ref_out)],
        ),
        measure(
            "pixelis score --format legacy (CLI)",
            [PIXELIS, "score", str(legacy), "-o", str(ours_out), "--format", "legacy", "-q"],
        ),
    ]
    print(f"{args.samples:,} samples; {same_scores(ours_out, ref_out)}")
    print("\n| process | wall s | CPU s | peak RSS MiB |\n|---|---:|---:|---:|")
    for r in runs:
        print(f"| {r.label} | {r.seconds:.1f} | {r.cpu_seconds:.1f} | {r.peak_rss_mb:,.0f} |")
    print(f"\nlegacy via its adapter: {runs[0].seconds / runs[1].seconds:.2f}x the per-sample scorer's speed")
    shutil.rmtree(args.workdir)


if __name__ == "__main__":
    main()
