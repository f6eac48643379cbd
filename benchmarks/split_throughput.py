"""Time and peak RSS of `pixelis split` on N synthetic scored samples (default 1,000,000).

    .venv/bin/python benchmarks/split_throughput.py [--rows 1000000] [--workdir bench-out/split] [--via cli]

Builds a scores Parquet shaped like `pixelis score` output (canonical record with 2-12 step trajectories,
factor and diagnostic columns, difficulty_score) with numpy/pyarrow, then measures, each in a fresh
subprocess (wall time, and peak RSS from os.wait4 of that very process):

* baseline: read the whole Parquet with pyarrow and write it once as an uncompressed Arrow IPC file,
  the floor any split has to pay;
* split: `pixelis split INPUT -o DIR --by-category` (``--via library`` calls ``split_to_dir`` instead).

The ratio split / baseline is the number to compare across machines; the absolute numbers go in docs/split.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_data.schema import SAMPLE_TYPES, TASK_TYPES

ACTIONS = np.array(["ZOOM_IN", "THINK", "SEGMENT_OBJECT_AT", "GET_PROPERTIES", "READ_TEXT", "TRACK_OBJECT"])
TASKS = np.array(TASK_TYPES)
SAMPLE_TYPE_NAMES = np.array(SAMPLE_TYPES)
WORDS = np.array(
    [
        "the",
        "red",
        "car",
        "left",
        "of",
        "a",
        "tall",
        "tree",
        "seems",
        "to",
        "be",
        "near",
        "two",
        "people",
        "looking",
        "at",
        "sign",
        "with",
        "white",
        "text",
        "zoom",
        "into",
        "region",
        "count",
        "objects",
        "compare",
        "sizes",
        "wait",
        "actually",
        "let",
        "me",
        "check",
        "again",
    ]
)


def _sentences(rng: np.random.Generator, n: int, words: int) -> pa.Array:
    """n pseudo-random sentences of ``words`` words."""
    picks = WORDS[rng.integers(0, len(WORDS), (n, words))]
    return pa.array([" ".join(row) for row in picks], type=pa.large_string())


def build_scores(path: Path, rows: int, seed: int = 0) -> None:
    """Write a realistic scores Parquet of ``rows`` samples in row groups of 100k."""
    rng = np.random.default_rng(seed)
    # Text pools gathered by index: large enough that Parquet's dictionaries overflow, as with real text.
    pool = _sentences(rng, 200_000, 12)
    obs_pool = pa.array(
        [f'{{"objects": {k % 9}, "box": [{k % 997}, {k % 991}, {k % 983}, {k % 977}]}}' for k in range(200_000)],
        type=pa.large_string(),
    )
    writer = None
    start = 0
    group = 100_000
    while start < rows:
        n = min(group, rows - start)
        steps = rng.integers(2, 13, n)
        offsets = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
        total = int(offsets[-1])
        step_struct = pa.StructArray.from_arrays(
            [
                pa.array(ACTIONS[rng.integers(0, len(ACTIONS), total)].astype(object), type=pa.large_string()),
                pool.take(pa.array(rng.integers(0, len(pool), total))),
                obs_pool.take(pa.array(rng.integers(0, len(obs_pool), total))),
                obs_pool.take(pa.array(rng.integers(0, len(obs_pool), total))),
            ],
            names=["action", "thought", "parameters", "result"],
        )
        ids = np.char.add("bench-", np.char.zfill(np.arange(start, start + n).astype(str), 8))
        columns = {
            "sample_id": pa.array(ids.astype(object), type=pa.large_string()),
            "task_type": pa.array(TASKS[rng.integers(0, len(TASKS), n)].astype(object), type=pa.large_string()),
            "sample_type": pa.array(SAMPLE_TYPE_NAMES[rng.integers(0, 5, n)].astype(object), type=pa.large_string()),
            "question": pool.take(pa.array(rng.integers(0, len(pool), n))),
            "images": pa.LargeListArray.from_arrays(
                pa.array(np.arange(n + 1, dtype=np.int64)),
                pa.array(np.char.add("images/", np.char.add(ids, ".png")).astype(object), type=pa.large_string()),
            ),
            "trajectory": pa.LargeListArray.from_arrays(pa.array(offsets), step_struct),
            "answer": pa.array(rng.integers(0, 20, n).astype(str).astype(object), type=pa.large_string()),
            "ground_truth": pa.array(rng.integers(0, 20, n).astype(str).astype(object), type=pa.large_string()),
            "sampling_weight": pa.array(rng.choice([1.0, 1.2, 1.5], n)),
            "source_format": pa.array(np.full(n, "pixelis", dtype=object), type=pa.large_string()),
            "extra": pa.array(np.full(n, "{}", dtype=object), type=pa.large_string()),
        }
        for name in (
            "trajectory_complexity",
            "operation_sophistication",
            "reasoning_depth",
            "error_patterns",
            "task_type_score",
        ):
            columns[name] = pa.array(rng.random(n))
        for name in ("n_steps", "n_known_ops", "n_unique_ops", "n_think", "n_repetitions", "n_unknown_ops"):
            columns[name] = pa.array(rng.integers(0, 12, n).astype(np.uint32))
        for name in ("has_self_correction", "has_backtracking"):
            columns[name] = pa.array(rng.random(n) < 0.2)
        # two decimals, like sums of rounded factor weights: many ties at the thresholds, as in real data
        columns["difficulty_score"] = pa.array(np.clip(np.round(rng.beta(2.5, 3.5, n), 2), 0.1, 1.0))
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
        start += n
    assert writer is not None
    writer.close()


BASELINE = """
import sys, pyarrow as pa, pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
with pa.OSFile(sys.argv[2], "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
    writer.write_table(table)
"""
LIBRARY = """
import sys
from pixelis_data.split import split_to_dir
split_to_dir(sys.argv[1], sys.argv[2], overwrite=True)
"""


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s (user + sys), peak RSS MiB) of one subprocess, from os.wait4 on exactly that process.

    CPU seconds are reported next to wall time because this machine's cores are shared: wall time varies
    with the other jobs, CPU time much less.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("bench-out/split"))
    parser.add_argument("--via", choices=("cli", "library"), default="cli")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best is reported")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    scores = args.workdir / f"bench-{args.rows}.scores.parquet"
    if not scores.exists():
        t = time.perf_counter()
        build_scores(scores, args.rows)
        print(f"built {scores} ({scores.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
    out = args.workdir / "split"
    copy = args.workdir / "baseline.arrow"
    if args.via == "cli":
        split_cmd = [
            sys.executable,
            "-c",
            "from pixelis_cli.app import main; main()",
            "split",
            str(scores),
            "-o",
            str(out),
            "--by-category",
            "--overwrite",
        ]
    else:
        split_cmd = [sys.executable, "-c", LIBRARY, str(scores), str(out)]
    base = min(measure([sys.executable, "-c", BASELINE, str(scores), str(copy)]) for _ in range(args.repeat))
    split = min(measure(split_cmd) for _ in range(args.repeat))
    written = sum(f.stat().st_size for f in out.glob("*.arrow")) / 2**20
    print(
        f"rows: {args.rows:,}   input: {scores.stat().st_size / 2**20:.0f} MiB parquet   "
        f"output: {written:.0f} MiB arrow   (best of {args.repeat} by wall time)"
    )
    for name, (wall, cpu, rss) in (
        ("baseline (parquet -> one arrow file)", base),
        (f"pixelis split ({args.via})", split),
    ):
        print(f"{name:<38} {wall:6.2f} s wall  {cpu:6.2f} s CPU  peak RSS {rss:6.0f} MiB")
    print(
        f"ratio split / baseline: {split[0] / base[0]:.2f}x wall, {split[1] / base[1]:.2f}x CPU, "
        f"{split[2] / base[2]:.2f}x memory"
    )
    copy.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
