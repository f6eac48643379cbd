"""Where `pixelis score` spends its CPU: one in-process run on a file, CPU seconds per stage.

    OMP_NUM_THREADS=1 python benchmarks/score_stages.py FILE.jsonl

(benchmarks/score_throughput.py ``--keep`` leaves such a file in its workdir.) Runs ``score_to_parquet``
serially (no read-ahead, parse or writer thread, so stages do not overlap) with a CPU timer
(``getrusage``: all threads of the process, DuckDB's and Polars' included) around each stage, and
prints the stages by CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import pixelis_data.readers as readers
from pixelis_data import score
from pixelis_data.readers import engine

CPU: Counter = Counter()


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            CPU[label] += cpu() - start

    return run


@contextlib.contextmanager
def serial_consumer(consume: Callable[[Any], None], depth: int = 2, name: str = "") -> Iterator[Callable[[Any], None]]:
    yield consume  # the writer in this thread: its CPU is not counted in another stage


def instrument() -> None:
    readers.query = timed("parse: C parser (+ to Polars)", readers.query)
    engine._parse = timed("  of which the engine on deferred texts", engine._parse)
    readers.finish = timed("rules over the engine's rows, merge", readers.finish)
    readers.canonicalize = timed("canonicalize", readers.canonicalize)
    readers._split_rejects = timed("content ids, sample type, rejects", readers._split_rejects)
    readers.ahead = lambda items, work: ((item, work(item)) for item in items)
    score.prefetched = lambda items, depth=2, name="": items
    score.consumed_behind = serial_consumer
    apply = score.ScorePlan.apply

    class Timed:
        def __init__(self, lf: Any) -> None:
            self.lf = lf

        def collect(self, **kwargs: Any) -> Any:
            return timed("scoring (score_frame)", self.lf.collect)(**kwargs)

    score.ScorePlan.apply = lambda self, lf: Timed(apply(self, lf))  # type: ignore[method-assign]
    pq.ParquetWriter.write_table = timed("Parquet write", pq.ParquetWriter.write_table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    args = parser.parse_args()
    instrument()
    start = cpu()
    with tempfile.TemporaryDirectory() as tmp:
        result = score.score_to_parquet(args.input, Path(tmp) / "scores.parquet")
    total = cpu() - start
    print(f"{result.n_input:,} records, {total:.2f} CPU s in all")
    print("\n| stage | CPU s |\n|---|---:|")
    for label, seconds in CPU.most_common():
        print(f"| {label} | {seconds:.2f} |")
    counted = sum(s for label, s in CPU.items() if not label.startswith(" "))
    print(f"| everything else (lines, ids, report, ...) | {total - counted:.2f} |")


if __name__ == "__main__":
    main()
