"""`pixelis score` vs the per-sample Python scorer vs the JSON engine's bare read, on the same file.

    OMP_NUM_THREADS=1 python benchmarks/score_throughput.py --samples 300000 1000000 --workdir /tmp/score-bench

For each N: writes N pixelis records as JSONL (``pixelis generate`` makes 20,000 distinct samples, copied
with new sample_ids up to N), then runs separate processes on that file, one after the other: once the
per-sample Python implementation (benchmarks/score_reference.py: json.loads, the five factors, Parquet),
then ``--repeat`` times (3), interleaved: the whole `pixelis score` CLI process, DuckDB's bare
``read_json`` of the file into Arrow batches (``parameters``/``result`` as JSON), and `pixelis score`
with ``PIXELIS_FASTPARSE=0`` (every record on the DuckDB engine path, without the C parser). Prints the
wall time of the median run and of every run (on a shared machine one run can be off by 10%), CPU time
and peak RSS (from ``wait4``) of each, the ratios the issue asks for (from the medians), whether
pixelis' scores equal the reference's and whether both `pixelis score` variants wrote the same rows.
Files are deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import polars as pl
from _measure import Measurement, measure

PY = sys.executable
PIXELIS = str(Path(PY).with_name("pixelis"))
BASE = 20_000
BARE_READ = """
import sys, duckdb
cols = {"sample_id": "VARCHAR", "task_type": "VARCHAR", "sample_type": "VARCHAR", "question": "VARCHAR",
        "image_path": "VARCHAR", "answer": "VARCHAR", "ground_truth": "VARCHAR", "sampling_weight": "DOUBLE",
        "trajectory": "STRUCT(action VARCHAR, thought VARCHAR, parameters JSON, result JSON)[]"}
rel = duckdb.read_json(sys.argv[1], format="newline_delimited", columns=cols)
n = sum(b.num_rows for b in rel.to_arrow_reader(65536))
print(n)
"""


SAME_ROWS = "import sys, polars as pl; sys.exit(not pl.read_parquet(sys.argv[1]).equals(pl.read_parquet(sys.argv[2])))"


def write_samples(path: Path, n: int, workdir: Path) -> None:
    """N records: BASE generated ones, then copies of them with new sample_ids (a fast writer)."""
    base = workdir / "base.jsonl"
    if not base.exists():
        subprocess.run(
            [PIXELIS, "generate", str(BASE), "-o", str(base), "--seed", "0"], check=True, capture_output=True
        )
    lines = base.read_bytes().splitlines(keepends=True)
    with open(path, "wb") as fh:
        for copy in range(0, n, BASE):
            block = b"".join(lines[: min(BASE, n - copy)])
            fh.write(block.replace(b'"sample_id":"syn-0-', b'"sample_id":"syn-%d-' % (copy // BASE)))


def same_scores(ours: Path, ref: Path) -> str:
    a = pl.read_parquet(ours, columns=["sample_id", "difficulty_score"])
    b = pl.read_parquet(ref, columns=["sample_id", "difficulty_score"])
    joined = a.join(b, on="sample_id", suffix="_ref")
    worst = (joined["difficulty_score"] - joined["difficulty_score_ref"]).abs().max()
    same = joined.height == a.height == b.height and worst is not None and worst < 1e-9
    return f"scores equal to the per-sample reference: {same} (max abs diff {worst:.2e}, {joined.height:,} rows)"


def median_run(runs: list[Measurement]) -> Measurement:
    """The run of median wall time (its CPU time), with the highest peak RSS of all the runs."""
    middle = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    return replace(middle, peak_rss_mb=max(r.peak_rss_mb for r in runs))


def bench(n: int, workdir: Path, repeat: int) -> list[Measurement]:
    data = workdir / f"samples_{n}.jsonl"
    write_samples(data, n, workdir)
    size_mb = data.stat().st_size / 2**20
    ref = measure(
        "per-sample Python",
        [PY, str(Path(__file__).with_name("score_reference.py")), str(data), str(workdir / "ref.parquet")],
    )
    fast: dict[str, list[Measurement]] = {}
    for _ in range(repeat):  # interleaved, so that a noisy moment of the machine hits every process alike
        for label, argv, env in [
            ("pixelis score (CLI)", [PIXELIS, "score", str(data), "-o", str(workdir / "pixelis.parquet"), "-q"], None),
            ("DuckDB read_json -> Arrow (bare read)", [PY, "-c", BARE_READ, str(data)], None),
            (
                "pixelis score, engine path only (PIXELIS_FASTPARSE=0)",
                [PIXELIS, "score", str(data), "-o", str(workdir / "engine.parquet"), "-q"],
                {**os.environ, "PIXELIS_FASTPARSE": "0"},
            ),
        ]:
            fast.setdefault(label, []).append(measure(label, argv, env=env))
    check = same_scores(workdir / "pixelis.parquet", workdir / "ref.parquet")
    # in a child: on Linux a child's peak RSS starts from the parent's at fork, so this process stays small
    same_rows = subprocess.run([PY, "-c", SAME_ROWS, str(workdir / "pixelis.parquet"), str(workdir / "engine.parquet")])
    check += f"; every column equal with and without the C parser: {same_rows.returncode == 0}"
    print(f"\n{n:,} samples, {size_mb:,.0f} MiB JSONL; {check}")
    ours, bare, engine_only = (median_run(runs) for runs in fast.values())
    print(f"\n| process | wall s (median of {repeat}) | every run's wall s | CPU s | peak RSS MiB |")
    print("|---|---:|---|---:|---:|")
    print(f"| {ref.label} | {ref.seconds:.1f} | {ref.seconds:.1f} | {ref.cpu_seconds:.1f} | {ref.peak_rss_mb:,.0f} |")
    for r, runs in zip((ours, bare, engine_only), fast.values(), strict=True):
        every = ", ".join(f"{m.seconds:.2f}" for m in runs)
        print(f"| {r.label} | {r.seconds:.2f} | {every} | {r.cpu_seconds:.1f} | {r.peak_rss_mb:,.0f} |")
    print(
        f"\npixelis score: {ref.seconds / ours.seconds:.2f}x faster than per-sample Python (target >= 3x), "
        f"{ours.seconds / bare.seconds:.2f}x the bare read (target <= 2.5x), peak RSS {ours.peak_rss_mb:,.0f} MiB "
        "(target <= 1024 MiB at 1M); "
        f"the C parser makes it {engine_only.seconds / ours.seconds:.2f}x faster than the engine path alone"
    )
    data.unlink()
    return [ref, ours, bare, engine_only]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/score-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the generated files and outputs")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each fast process (the per-sample scorer runs once)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, {os.cpu_count()} CPUs")
    for n in args.samples:
        bench(n, args.workdir, args.repeat)
    if not args.keep:
        shutil.rmtree(args.workdir)


if __name__ == "__main__":
    main()
