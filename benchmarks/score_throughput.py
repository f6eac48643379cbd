"""`pixelis score` vs a per-sample Python implementation vs Polars merely reading the file.

    python benchmarks/score_throughput.py [--samples 1000000] [--workdir bench-out]

Generates N samples (about 8 steps each) as JSONL with `pixelis generate`, then times three child
processes (wall time and peak RSS): the whole `pixelis score` command, the per-sample baseline
(benchmarks/score_reference.py) and `pl.read_ndjson` of the same file; finally checks that pixelis and the
baseline give the same difficulty scores. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure

PY = sys.executable
PIXELIS = str(Path(PY).with_name("pixelis"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("bench-out"))
    parser.add_argument("--skip-baseline", action="store_true", help="skip the slow per-sample baseline")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"samples_{args.samples}.jsonl"
    if not data.exists():
        measure("generate", [PIXELIS, "generate", str(args.samples), "-o", str(data), "--seed", "0"])
    size_mb = data.stat().st_size / 2**20
    rows = [
        measure("polars read_ndjson (bare read)", [PY, "-c", f"import polars as pl; pl.read_ndjson({str(data)!r})"]),
        measure("pixelis score", [PIXELIS, "score", str(data), "-o", str(args.workdir / "pixelis.parquet"), "-q"]),
    ]
    if not args.skip_baseline:
        rows.append(
            measure(
                "per-sample Python",
                [
                    PY,
                    str(Path(__file__).with_name("score_reference.py")),
                    str(data),
                    str(args.workdir / "reference.parquet"),
                ],
            )
        )
        ours = pl.read_parquet(args.workdir / "pixelis.parquet", columns=["sample_id", "difficulty_score"])
        ref = pl.read_parquet(args.workdir / "reference.parquet", columns=["sample_id", "difficulty_score"])
        joined = ours.join(ref, on="sample_id", suffix="_ref")
        worst = (joined["difficulty_score"] - joined["difficulty_score_ref"]).abs().max()
        same = joined.height == ours.height == ref.height and worst < 1e-9
        print(f"scores identical to the per-sample baseline: {same} (max abs diff {worst:.2e}, {joined.height} rows)")
    pixelis = rows[1].seconds
    print(f"\n{args.samples:,} samples, {size_mb:,.0f} MB JSONL\n")
    print("| process | wall s | peak RSS MB | pixelis speed-up |")
    print("|---|---:|---:|---:|")
    for m in rows:
        print(f"| {m.label} | {m.seconds:.1f} | {m.peak_rss_mb:,.0f} | {m.seconds / pixelis:.2f}x |")


if __name__ == "__main__":
    main()
