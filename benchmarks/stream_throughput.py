"""Curriculum stream throughput vs a plain WeightedRandomSampler + DataLoader, on the same files.

    .venv/bin/python benchmarks/stream_throughput.py                # 1,000,000 training rows
    .venv/bin/python benchmarks/stream_throughput.py --rows 100000  # quicker

Builds a split directory in a temp dir (rows with 8-step trajectories, split evenly over simple /
medium / hard, uncompressed Arrow IPC like `pixelis split`), then measures on one core:

* planning: indices planned per second by ``CurriculumStream.next_step`` (global batch 16 / 256 / 1024)
  and by ``torch.utils.data.WeightedRandomSampler`` over the same per-row weights;
* fetching + collating: rows per second of ``stream.fetch`` (one gather per category from the memory
  maps) + ``to_pylist`` (the row dicts a tokenizer consumes), through ``make_loader`` (DataLoader, no
  workers) and, as the baseline, a DataLoader over a map-style dataset that reads one row per index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa

from pixelis_data.schema import CATEGORIES
from pixelis_train.stream import CurriculumStream, StreamConfig
from pixelis_train.stream.permutation import weighted_permutation
from pixelis_train.stream.split_files import SplitFiles
from pixelis_train.stream.synthetic import synthetic_split_dir
from pixelis_train.stream.torch_data import make_loader

WEIGHTS = {"simple": 0.4, "medium": 0.4, "hard": 0.2}


class Clock:
    """Wall and CPU time of this process since construction (CPU time ignores other load on the machine)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, n: float) -> tuple[float, float]:
        """``n`` per second of (CPU time, wall time)."""
        return n / (time.process_time() - self.cpu), n / (time.perf_counter() - self.wall)


def timed(fn, min_seconds: float = 1.0) -> tuple[float, float]:
    """Calls per second of ``fn`` (CPU, wall), repeating it for at least ``min_seconds`` of wall time."""
    calls, clock = 0, Clock()
    while True:
        fn()
        calls += 1
        if time.perf_counter() - clock.wall >= min_seconds:
            return clock.rates(calls)


def bench_planning(split_dir: Path, batches: list[int]) -> list[tuple[str, tuple[float, float]]]:
    rows = []
    for batch in batches:
        stream = CurriculumStream(
            split_dir, StreamConfig(global_batch=batch, micro_batch=min(batch, 16)), weights=WEIGHTS
        )
        stream.next_step()  # builds the first permutation of each category (timed separately)
        cpu, wall = timed(stream.next_step)
        rows.append((f"CurriculumStream.next_step, global batch {batch}", (batch * cpu, batch * wall)))
    return rows


def bench_permutation(split_dir: Path) -> float:
    weights = SplitFiles(split_dir).weights("simple")
    start = time.perf_counter()
    weighted_permutation(weights, 0, 0, 0)
    return time.perf_counter() - start


def flat_weights(files: SplitFiles) -> tuple[np.ndarray, np.ndarray]:
    """Per-row weights over the concatenated categories (category weight spread over its sampling weights)."""
    parts, offsets = [], [0]
    for name in CATEGORIES:
        w = files.weights(name)
        parts.append(w / w.sum() * WEIGHTS[name])
        offsets.append(offsets[-1] + len(w))
    return np.concatenate(parts), np.array(offsets)


def bench_torch_sampler(weights: np.ndarray, n: int) -> tuple[float, float]:
    import torch

    sampler = torch.utils.data.WeightedRandomSampler(torch.as_tensor(weights), num_samples=n, replacement=True)
    clock = Clock()
    count = sum(1 for _ in sampler)
    return clock.rates(count)


class RowDataset:
    """The baseline: a map-style dataset over the same memory maps, one row per index."""

    def __init__(self, files: SplitFiles, offsets: np.ndarray) -> None:
        self.tables = [files.categories[name].table for name in CATEGORIES]
        self.offsets = offsets

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> dict:
        c = int(np.searchsorted(self.offsets, i, side="right")) - 1
        row = self.tables[c].slice(i - int(self.offsets[c]), 1).to_pylist()[0]
        row["category"] = CATEGORIES[c]
        return row


def bench_fetch(split_dir: Path, micro: int, n_rows: int) -> list[tuple[str, tuple[float, float]]]:
    import torch

    out = []
    stream = CurriculumStream(split_dir, StreamConfig(global_batch=micro * 16, micro_batch=micro), weights=WEIGHTS)
    plans = [stream.next_step() for _ in range(max(1, n_rows // (micro * 16)))]
    micro_batches = [m for p in plans for m in p.micro_batches]

    clock = Clock()
    for m in micro_batches:
        stream.fetch(m)
    out.append((f"stream.fetch -> pyarrow.Table, micro-batch {micro}", clock.rates(len(micro_batches) * micro)))

    clock = Clock()
    for m in micro_batches:
        stream.fetch(m).to_pylist()
    out.append((f"stream.fetch + to_pylist (row dicts), micro-batch {micro}", clock.rates(len(micro_batches) * micro)))

    stream = CurriculumStream(split_dir, StreamConfig(global_batch=micro * 16, micro_batch=micro), weights=WEIGHTS)
    loader = make_loader(stream)
    steps = max(1, n_rows // (micro * 16))
    clock = Clock()
    got = 0
    for _ in range(steps):
        for batch in loader:
            got += len(batch)
    out.append(
        (f"make_loader (DataLoader, 0 workers; plan + fetch + row dicts), micro-batch {micro}", clock.rates(got))
    )

    files = stream.files
    weights, offsets = flat_weights(files)
    sampler = torch.utils.data.WeightedRandomSampler(torch.as_tensor(weights), num_samples=n_rows, replacement=True)
    baseline = torch.utils.data.DataLoader(
        RowDataset(files, offsets), batch_size=micro, sampler=sampler, collate_fn=list
    )
    clock = Clock()
    got = sum(len(b) for b in baseline)
    out.append((f"baseline: WeightedRandomSampler + DataLoader (per-row reads), micro-batch {micro}", clock.rates(got)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="training rows over the three categories")
    parser.add_argument("--fetch-rows", type=int, default=50_000, help="rows fetched per fetch measurement")
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--dir", type=Path, default=None, help="reuse / keep the split directory here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    tmp = None
    split_dir = args.dir
    if split_dir is None or not (split_dir / "manifest.json").exists():
        if split_dir is None:
            tmp = Path(tempfile.mkdtemp(prefix="pixelis-stream-bench-"))
            split_dir = tmp / "split"
        per = args.rows // 3
        sizes = {"simple": args.rows - 2 * per, "medium": per, "hard": per, "eval": max(1, args.rows // 100)}
        start = time.perf_counter()
        synthetic_split_dir(split_dir, sizes, steps=8)
        print(
            f"built {split_dir} ({args.rows:,} training rows, 8-step trajectories) in "
            f"{time.perf_counter() - start:.1f} s"
        )
    try:
        size = sum(p.stat().st_size for p in split_dir.glob("*.arrow"))
        start = time.perf_counter()
        CurriculumStream(split_dir, StreamConfig(), weights=WEIGHTS)
        open_s = time.perf_counter() - start
        print(
            f"files: {size / 2**20:,.0f} MiB; open + validate: {open_s * 1000:.0f} ms; "
            f"first permutation ({per_cat(split_dir):,} rows): {bench_permutation(split_dir) * 1000:.0f} ms\n"
        )
        files = SplitFiles(split_dir)
        weights, _ = flat_weights(files)
        rows: list[tuple[str, tuple[float, float]]] = [("## planning (indices / s)", (0.0, 0.0))]
        rows += bench_planning(split_dir, [16, 256, 1024])
        rows.append(("baseline: WeightedRandomSampler iteration", bench_torch_sampler(weights, 1_000_000)))
        rows.append(("## fetching + collating (rows / s)", (0.0, 0.0)))
        rows += bench_fetch(split_dir, args.micro_batch, args.fetch_rows)
        print("| measurement | per CPU second | per wall second |\n|---|---:|---:|")
        for name, (cpu, wall) in rows:
            print(f"| **{name[3:]}** | | |" if name.startswith("## ") else f"| {name} | {cpu:,.0f} | {wall:,.0f} |")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def per_cat(split_dir: Path) -> int:
    return SplitFiles(split_dir).categories["simple"].n_rows


if __name__ == "__main__":
    main()
