"""Peak RSS of `pixelis score` on a large JSON array (not JSONL), read incrementally.

Usage: .venv/bin/python benchmarks/json_array_memory.py [--n 1000000] [--workdir DIR] [--keep]

Generates N synthetic samples with `pixelis generate` (JSONL), rewrites them as one JSON array
(``[rec, rec, ...]``, streamed line by line), then scores the JSON array and, as the baseline of the
same run, the JSONL file, each in its own child process; prints wall time and peak RSS (wait4) of each.
Issue 3 asks for a peak RSS under 2.5 GB at N = 1,000,000.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure

LIMIT_MB = 2.5 * 1024


def to_json_array(jsonl: Path, target: Path) -> int:
    """Write the lines of ``jsonl`` as one JSON array; returns the number of records."""
    n = 0
    with open(jsonl, "rb") as src, open(target, "wb") as dst:
        dst.write(b"[\n")
        for line in src:
            line = line.strip()
            if not line:
                continue
            dst.write((b",\n" if n else b"") + line)
            n += 1
        dst.write(b"\n]\n")
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of samples")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pixelis-json-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    pixelis = str(Path(sys.executable).parent / "pixelis")
    jsonl, array = work / "samples.jsonl", work / "samples.json"
    try:
        gen = measure("generate", [pixelis, "generate", str(args.n), "-o", str(jsonl), "--seed", "0"])
        n = to_json_array(jsonl, array)
        size_mb = array.stat().st_size / 2**20
        print(f"{n:,} samples; JSON array {size_mb:,.0f} MiB (generated in {gen.seconds:.0f} s)")
        runs = [
            measure("score JSON array", [pixelis, "score", str(array), "-o", str(work / "a.parquet"), "-q"]),
            measure("score JSONL (baseline)", [pixelis, "score", str(jsonl), "-o", str(work / "b.parquet"), "-q"]),
        ]
        base = runs[1]
        for run in runs:
            print(
                f"{run.label:24s} {run.seconds:8.1f} s  peak RSS {run.peak_rss_mb:8.0f} MiB  "
                f"(x{run.seconds / base.seconds:.2f} time, x{run.peak_rss_mb / base.peak_rss_mb:.2f} RSS "
                "of the JSONL baseline)"
            )
        verdict = "under" if runs[0].peak_rss_mb < LIMIT_MB else "OVER"
        print(f"JSON array peak RSS {runs[0].peak_rss_mb:,.0f} MiB: {verdict} the 2.5 GB limit of issue 3")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
