"""Writing generated samples: JSONL or ``{"samples": [...]}`` JSON, streamed, atomic, optionally parallel.

Samples are generated in chunks of consecutive indices. Because a sample depends only on (seed, index),
chunks can be produced by worker processes in any order and written in index order: the file is the
same bytes for any number of workers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pixelis_core.atomic import atomic_path, write_bytes_atomic
from pixelis_data.generate.scene import Scene
from pixelis_data.generate.tasks_controlled import build_counting_sample
from pixelis_data.generate.trajectories import build_sample
from pixelis_data.schema import SAMPLE_TYPES, TASK_TYPES

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

FORMATS: dict[str, str] = {".jsonl": "jsonl", ".json": "json"}
# --task values. "mixed": every task and sample type (docs/generate.md); "counting": the controlled task
# whose difficulty is the number of observations its answer composes (tasks_controlled.py).
TASKS: tuple[str, ...] = ("mixed", "counting")
CHUNK = 2_000  # samples per unit of work: small enough for a smooth progress bar, big enough to amortise IPC
MAX_INDEX = 2**40  # sample_rng packs (seed, index) into one integer
AUTO_PARALLEL_MIN = 100_000  # below this, starting worker processes costs more than it saves
# Samples are trees built here (no cycles), so the encoder's cycle check is pure overhead (~20 %).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False)


@dataclass(frozen=True)
class GenerateResult:
    """What ``write_samples`` wrote."""

    count: int
    path: Path
    images_dir: Path | None
    images_written: int
    task_counts: dict[str, int] = field(default_factory=dict)
    sample_type_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def output_format(path: str | os.PathLike[str]) -> str:
    """``jsonl`` or ``json`` from the file extension; anything else is a ValueError naming the file."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"output file must end in .jsonl or .json, got {str(path)!r}")
    return fmt


def check_arguments(n: object, seed: object, task: object = "mixed") -> None:
    """Raise ValueError naming every bad argument (n an int >= 1, seed an int >= 0, task one of TASKS)."""
    problems = []
    if not isinstance(task, str) or task not in TASKS:
        problems.append(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < MAX_INDEX:
        problems.append(f"n must be an integer from 1 to {MAX_INDEX - 1}, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"seed must be an integer >= 0, got {seed!r}")
    if problems:
        raise ValueError("; ".join(problems))


def task_builder(task: str) -> Callable[[int, int], tuple[dict, Scene]]:
    """(seed, index) -> (sample, scene) of ``task``; looked up on each call, so a builder can be patched."""
    return {"mixed": build_sample, "counting": build_counting_sample}[task]


def generate_samples(n: int, seed: int = 0, task: str = "mixed") -> Iterator[dict]:
    """Samples 1..n of ``seed`` (of ``task``) as pixelis-format dicts, one at a time (nothing is held in memory)."""
    check_arguments(n, seed, task)
    build = task_builder(task)
    for index in range(1, n + 1):
        yield build(seed, index)[0]


def _chunk(job: tuple[int, int, int, str | None, str]) -> tuple[list[str], list[int], list[int]]:
    """Encoded samples start..stop-1 (and their PNGs), with counts per task type and sample type."""
    seed, start, stop, images_dir, task = job
    build = task_builder(task)
    render = None
    if images_dir is not None:
        from pixelis_data.generate.images import render_png

        render = render_png
    lines: list[str] = []
    tasks = dict.fromkeys(TASK_TYPES, 0)
    types = dict.fromkeys(SAMPLE_TYPES, 0)
    encode = _ENCODER.encode
    for index in range(start, stop):
        sample, scene = build(seed, index)
        lines.append(encode(sample))
        tasks[sample["task_type"]] += 1
        types[sample["sample_type"]] += 1
        if render is not None:
            write_bytes_atomic(Path(images_dir, sample["image_path"]), render(scene))
    return lines, list(tasks.values()), list(types.values())


def _resolve_workers(workers: int | None, n: int) -> int:
    if workers is None or workers == 0:
        return 1 if n < AUTO_PARALLEL_MIN else max(1, min(4, os.cpu_count() or 1))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0 (0 = automatic), got {workers!r}")
    return workers


def write_samples(
    path: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    images_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    workers: int | None = None,
    task: str = "mixed",
) -> GenerateResult:
    """Generate ``n`` samples of ``task`` into ``path`` (.jsonl or .json), atomically; PNGs into ``images_dir``.

    Images are written first and the sample file last, so a sample file that exists has its images.
    ``workers`` (default: automatic) only changes the speed, never the bytes.
    """
    check_arguments(n, seed, task)
    fmt = output_format(path)
    n_workers = _resolve_workers(workers, n)
    path = Path(path)
    img_dir = Path(images_dir) if images_dir is not None else None
    if img_dir is not None:
        from pixelis_data.generate.images import require_pillow

        require_pillow()
        if img_dir.exists() and not img_dir.is_dir():
            raise ValueError(f"--images must be a directory, got the file {str(img_dir)!r}")
        img_dir.mkdir(parents=True, exist_ok=True)
    img = None if img_dir is None else str(img_dir)
    jobs = [(seed, s, min(s + CHUNK, n + 1), img, task) for s in range(1, n + 1, CHUNK)]
    tasks = [0] * len(TASK_TYPES)
    types = [0] * len(SAMPLE_TYPES)
    started = time.perf_counter()
    sep = "\n" if fmt == "jsonl" else ",\n"
    show = progress and (n >= 20_000 or (img_dir is not None and n >= 500))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out, _Progress(show, n) as bar:
        if fmt == "json":
            out.write('{"samples": [\n')
        pool = _spawn_pool(n_workers) if n_workers > 1 else None
        try:
            results = pool.imap(_chunk, jobs) if pool is not None else map(_chunk, jobs)
            for i, (lines, t_counts, s_counts) in enumerate(results):
                if i:
                    out.write(sep)
                out.write(sep.join(lines))
                tasks = [a + b for a, b in zip(tasks, t_counts, strict=True)]
                types = [a + b for a, b in zip(types, s_counts, strict=True)]
                bar.advance(len(lines))
        finally:
            if pool is not None:
                pool.terminate()
        out.write("\n]}\n" if fmt == "json" else "\n")
    return GenerateResult(
        count=n,
        path=path,
        images_dir=img_dir,
        images_written=n if img_dir is not None else 0,
        task_counts=dict(zip(TASK_TYPES, tasks, strict=True)),
        sample_type_counts=dict(zip(SAMPLE_TYPES, types, strict=True)),
        seconds=time.perf_counter() - started,
    )


def _spawn_pool(n_workers: int) -> Pool:
    """Worker processes started fresh ("spawn"): safe whatever threads the parent runs (Polars)."""
    import multiprocessing  # only when parallel: keeps `pixelis --help` fast

    return multiprocessing.get_context("spawn").Pool(n_workers)


class _Progress:
    """A rich progress bar on stderr, or nothing when ``show`` is false (rich is imported only then)."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total = show, total
        self.bar = None

    def __enter__(self) -> _Progress:
        if self.show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("generating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("generate", total=self.total)
        return self

    def advance(self, k: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, k)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
