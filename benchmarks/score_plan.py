"""CPU time of each piece of the read-and-score plan on N canonical rows (issue #15 item 3).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/score_plan.py --samples 100000 [--save DIR | --compare DIR]

Writes N pixelis records (``pixelis generate`` 20,000, copied with new sample_ids), parses them in batches
of ``ROWS_PER_BATCH`` with the JSON engine (not timed), then times, over all batches, each piece the
scoring run does after parsing: ``canonicalize``, the id fill + sample type of ``_split_rejects``
(``fill_content_ids`` + ``sample_type_expr``), ``score_frame``, ``_unknown_ops`` and the Parquet write
(with the writer options of ``score_to_parquet`` and a few alternatives). Also times each count
expression of ``count_exprs`` alone on the concatenated canonical frame. CPU time is this process's
user + system time (``resource.getrusage``, all threads); each piece is run ``--repeat`` times, best kept.

``--save DIR`` writes the canonical rows, the scored rows and the Parquet file; ``--compare DIR`` checks
this run's against them (column values equal), so a change to the plan can be checked for identical
results.
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pixelis_data import score as S
from pixelis_data.config import DEFAULT_COMPLEXITY, DataConfig
from pixelis_data.readers import ROWS_PER_BATCH
from pixelis_data.readers.engine import parse_texts
from pixelis_data.readers.outcome import sample_type_expr
from pixelis_data.readers.pixelis import REJECT_COL, canonicalize, fill_content_ids
from pixelis_data.schema import CANONICAL_COLUMNS

BASE = 20_000
PIXELIS = str(Path(sys.executable).with_name("pixelis"))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best CPU seconds, best wall seconds, last result) of ``repeat`` calls of ``fn``."""
    best_cpu = best_wall = float("inf")
    result = None
    for _ in range(repeat):
        c, w = cpu(), time.perf_counter()
        result = fn()
        best_cpu, best_wall = min(best_cpu, cpu() - c), min(best_wall, time.perf_counter() - w)
    return best_cpu, best_wall, result


def write_samples(path: Path, n: int) -> None:
    """N records: BASE generated ones, then copies with new sample_ids."""
    base = path.with_name("base.jsonl")
    subprocess.run([PIXELIS, "generate", str(BASE), "-o", str(base), "--seed", "0"], check=True, capture_output=True)
    lines = base.read_bytes().splitlines(keepends=True)
    with open(path, "wb") as fh:
        for copy in range(0, n, BASE):
            block = b"".join(lines[: min(BASE, n - copy)])
            fh.write(block.replace(b'"sample_id":"syn-0-', b'"sample_id":"syn-%d-' % (copy // BASE)))


def parsed_batches(path: Path) -> list[pl.DataFrame]:
    lines = path.read_text().splitlines()
    return [
        parse_texts(pa.array(lines[i : i + ROWS_PER_BATCH], pa.large_string()))
        for i in range(0, len(lines), ROWS_PER_BATCH)
    ]


def split(frame: pl.DataFrame, cfg: DataConfig) -> pl.DataFrame:
    """What ``readers._split_rejects`` does to the frame (without the Batch bookkeeping)."""
    frame = fill_content_ids(frame).filter(pl.col(REJECT_COL).is_null())
    return frame.with_columns(sample_type_expr(cfg.read)).select(CANONICAL_COLUMNS)


def write_parquet(frames: list[pl.DataFrame], sink: Any, **options: Any) -> None:
    writer = None
    for frame in frames:
        table = frame.to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(sink, table.schema, **options)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def write_variants(
    frames: list[pl.DataFrame], variants: dict[str, dict[str, Any]], repeat: int
) -> dict[str, tuple[float, float]]:
    """Label (with the file size) -> best (CPU, wall) seconds of writing ``frames`` to memory, rounds interleaved."""
    best: dict[str, tuple[float, float]] = {}
    sizes: dict[str, float] = {}
    for _ in range(repeat):  # interleaved, so that the machine's noise hits every variant alike
        for label, options in variants.items():
            sink = io.BytesIO()
            c, w, _ = timed(lambda o=options, s=sink: write_parquet(frames, s, **o), 1)
            old = best.get(label, (float("inf"), float("inf")))
            best[label], sizes[label] = (min(old[0], c), min(old[1], w)), sink.tell() / 1e6
    return {label if i == 0 else f"{label} ({sizes[label]:.1f} MB)": t for i, (label, t) in enumerate(best.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--save", type=Path, help="write canonical/scored rows and the Parquet file here")
    group.add_argument("--compare", type=Path, help="compare this run's results with those --save wrote")
    args = ap.parse_args()
    cfg = DataConfig()
    scfg = cfg.score
    aliases = cfg.read.alias_table(tuple(DEFAULT_COMPLEXITY))
    known = list(scfg.operations.complexity)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "samples.jsonl"
        write_samples(data, args.samples)
        parsed = parsed_batches(data)
        rows: list[tuple[str, float, float]] = []

        def piece(name: str, fn: Callable[[], Any]) -> Any:
            c, w, result = timed(fn, args.repeat)
            rows.append((name, c, w))
            return result

        canon = piece("canonicalize", lambda: [canonicalize(f, "pixelis", aliases) for f in parsed])
        frames = piece("fill_content_ids + sample_type", lambda: [split(f, cfg) for f in canon])
        score = lambda f: S.score_frame(f.lazy(), scfg).collect(engine="in-memory")  # noqa: E731 (as score_to_parquet)
        scored = piece("score_frame", lambda: [score(f) for f in frames])
        piece("_unknown_ops", lambda: [S._unknown_ops(f, known) for f in scored])
        out = Path(tmp) / "scores.parquet"
        options = S.parquet_options(scored[0].to_arrow().schema)
        write_parquet(scored, out, **options)
        variants = {
            "score_to_parquet options": options,
            "zstd, all statistics (the options before #15)": {"compression": "zstd"},
            "zstd (the codec before #15)": {**options, "compression": "zstd"},
            "no dictionary": {**options, "use_dictionary": False},
            "lz4": {**options, "compression": "lz4"},
            "zstd level 3": {**options, "compression": "zstd", "compression_level": 3},
        }
        writes = write_variants(scored, variants, args.repeat)
        rows.append(("parquet write (to_arrow + score_to_parquet options)", *writes.pop("score_to_parquet options")))
        total = sum(c for _, c, _ in rows)
        extra = [(f"  write: {label}", c, w) for label, (c, w) in writes.items()]
        c, w, _ = timed(lambda: [f.to_arrow() for f in scored], args.repeat)
        extra.append(("  of the write: DataFrame.to_arrow alone", c, w))
        untyped = [f.with_columns(pl.lit(None, pl.String).alias("sample_type")) for f in canon]
        c, w, _ = timed(lambda: [split(f, cfg) for f in untyped], args.repeat)
        extra.append(("  fill_content_ids + sample_type, none typed", c, w))
        whole = pl.concat(frames)
        counts = []
        for name, expr in S.count_exprs(scfg).items():
            c, w, _ = timed(lambda e=expr: whole.select(e), args.repeat)
            counts.append((f"  count {name}", c, w))
        size = out.stat().st_size / 1e6
        print(f"{args.samples:,} samples, {len(parsed)} batches, best of {args.repeat}; scores file {size:.1f} MB")
        print(f"{'piece':<56} {'CPU s':>8} {'wall s':>8}")
        for name, c, w in [*rows, ("TOTAL (pieces above)", total, sum(w for _, _, w in rows)), *extra, *counts]:
            print(f"{name:<56} {c:8.3f} {w:8.3f}")
        check(args, pl.concat(canon), pl.concat(scored), out)


def check(args: argparse.Namespace, canon: pl.DataFrame, scored: pl.DataFrame, out: Path) -> None:
    written = pl.read_parquet(out)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        canon.write_parquet(args.save / "canonical.parquet")
        scored.write_parquet(args.save / "scored.parquet")
        written.write_parquet(args.save / "written.parquet")
        print(f"saved to {args.save}")
    if args.compare:
        for name, frame in (("canonical", canon), ("scored", scored), ("written", written)):
            ref = pl.read_parquet(args.compare / f"{name}.parquet")
            same = ref.schema == frame.schema and ref.equals(frame, null_equal=True)
            print(f"{name}: identical to {args.compare}: {same}")


if __name__ == "__main__":
    main()
