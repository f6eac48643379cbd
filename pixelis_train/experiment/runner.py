"""Run the experiment's ``pixelis train`` children, one or ``parallel`` at a time. Torch-free.

Each child is a subprocess (a crash, an out-of-memory kill or a bad run cannot take the others down).
Its stdout / stderr are appended to ``train.out`` / ``train.err`` in its run directory; a failed run's
stderr tail goes to ``error.txt`` there and the others go on. A run that is already finished
(:func:`~pixelis_train.experiment.arms.run_state`) is skipped, anything else is started with
``--resume auto``. While a child lives it holds an exclusive ``flock`` on ``.experiment.lock`` in its
run directory (the descriptor is inherited), so a second experiment on the same directory, or a rerun
while an orphaned child of a killed experiment still trains, reports the run as busy instead of
writing into it twice. SIGTERM / SIGINT to the experiment are passed on to the running children, which
checkpoint and stop; nothing new is started after that.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from pixelis_core.atomic import write_text_atomic
from pixelis_train.experiment.arms import ERROR_FILE, STDERR_FILE, STDOUT_FILE, ExperimentPlan, RunSpec, run_state
from pixelis_train.run_control import StopFlag

LOCK_FILE = ".experiment.lock"
TAIL_LINES = 40
LOG_COLUMNS = 160
POLL_SECONDS = 0.2
LOCK_WAIT_SECONDS = 10.0

RunStatus = Literal["skipped", "completed", "failed", "interrupted"]


@dataclass(frozen=True)
class RunOutcome:
    """How one run of the experiment went this time."""

    spec: RunSpec
    status: RunStatus
    """'skipped' (finished before), 'completed', 'failed', 'interrupted' (the experiment was stopped)."""
    seconds: float = 0.0
    returncode: int | None = None
    error: str | None = None
    """The last line of the child's stderr (or why it could not start), for failed runs."""


@dataclass
class RunnerStatus:
    """What the progress display shows: the outcomes so far and the runs in flight."""

    total: int
    outcomes: list[RunOutcome] = field(default_factory=list)
    running: list[RunSpec] = field(default_factory=list)
    stop: StopFlag = field(default_factory=StopFlag)
    """Set by SIGTERM / SIGINT while the experiment runs: nothing new starts, the runs are passed the signal."""

    @property
    def stopping(self) -> str | None:
        """The signal that stops the experiment, once one arrived."""
        return self.stop.signal_name

    def count(self, *statuses: str) -> int:
        return sum(o.status in statuses for o in self.outcomes)


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def child_env(parallel: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The children's environment: OMP_NUM_THREADS = max(1, cores // parallel) unless already set."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // parallel)))
    env.setdefault("COLUMNS", str(LOG_COLUMNS))  # train.out is a file: no wrapping of paths at 80 columns
    return env


@dataclass
class _Child:
    spec: RunSpec
    proc: subprocess.Popen[bytes]
    started: float
    err_offset: int
    handles: list[IO[bytes]]
    lock_fd: int
    signalled: bool = False

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        os.close(self.lock_fd)


def _lock(run_dir: Path, wait: float | None = None) -> int | None:
    """An exclusive lock on the run directory (None: another process still holds it after ``wait`` s).

    The short wait covers a child of a just-killed experiment that is still exiting (SIGKILL is async).
    """
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(POLL_SECONDS)


def _start(plan: ExperimentPlan, spec: RunSpec, env: Mapping[str, str]) -> _Child | RunOutcome:
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(spec.run_dir)
    if lock_fd is None:
        why = f"{spec.run_dir} is in use by another process (a run of another experiment, or of a killed one?)"
        _write_error(spec, why, [])
        return RunOutcome(spec, "failed", error=why)
    argv = plan.train_argv(spec)
    out = (spec.run_dir / STDOUT_FILE).open("ab")
    err = (spec.run_dir / STDERR_FILE).open("ab")
    header = f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode()
    out.write(header)
    out.flush()
    offset = err.tell()
    try:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=dict(env), pass_fds=(lock_fd,)
        )
    except OSError as error:
        for handle in (out, err):
            handle.close()
        os.close(lock_fd)
        why = f"could not start {argv[0]}: {error}"
        _write_error(spec, why, [])
        return RunOutcome(spec, "failed", error=why)
    return _Child(spec, proc, time.monotonic(), offset, [out, err], lock_fd)


def _stderr_tail(child: _Child) -> list[str]:
    with (child.spec.run_dir / STDERR_FILE).open("rb") as fh:
        fh.seek(child.err_offset)
        text = fh.read().decode("utf-8", errors="replace")
    return text.rstrip().splitlines()[-TAIL_LINES:]


def _write_error(spec: RunSpec, summary: str, tail: list[str]) -> None:
    body = f"run {spec.name} failed: {summary}\n"
    if tail:
        body += f"\nlast {len(tail)} line(s) of {STDERR_FILE}:\n" + "\n".join(tail) + "\n"
    write_text_atomic(spec.run_dir / ERROR_FILE, body)


def _finish(child: _Child) -> RunOutcome:
    """The outcome of a child that exited (error.txt written for a failure, removed after a success)."""
    child.close()
    seconds = time.monotonic() - child.started
    code = child.proc.returncode
    spec = child.spec
    if code == 0 and run_state(spec.run_dir) == "finished":
        (spec.run_dir / ERROR_FILE).unlink(missing_ok=True)
        return RunOutcome(spec, "completed", seconds, code)
    if child.signalled:
        return RunOutcome(spec, "interrupted", seconds, code)
    tail = _stderr_tail(child)
    if code == 0:
        summary = "exited 0 but the run is not finished (no end record with stopped: completed, or no adapter/)"
    elif code < 0:
        summary = f"killed by {signal.Signals(-code).name}"
    else:
        summary = f"exit code {code}"
    last = next((line.strip() for line in reversed(tail) if line.strip()), None)
    _write_error(spec, f"{summary} after {seconds:.1f} s", tail)
    return RunOutcome(spec, "failed", seconds, code, last or summary)


def run_experiment(
    plan: ExperimentPlan,
    on_change: Callable[[RunnerStatus], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[list[RunOutcome], RunnerStatus]:
    """Run every run of ``plan`` that is not finished, ``plan.parallel`` at a time; outcomes in plan order."""
    specs = plan.runs()
    env = child_env(plan.parallel) if env is None else env
    status = RunnerStatus(total=len(specs))
    notify = on_change or (lambda _status: None)
    todo = []
    for spec in specs:
        if run_state(spec.run_dir) == "finished":
            status.outcomes.append(RunOutcome(spec, "skipped"))
        else:
            todo.append(spec)
    notify(status)
    running: list[_Child] = []
    with status.stop.installed():
        while todo or running:
            while todo and len(running) < plan.parallel and status.stopping is None:
                started = _start(plan, todo.pop(0), env)
                if isinstance(started, RunOutcome):
                    status.outcomes.append(started)
                else:
                    running.append(started)
                status.running = [c.spec for c in running]
                notify(status)
            if status.stopping is not None:
                todo.clear()
                for child in running:
                    if not child.signalled and child.proc.poll() is None:
                        child.proc.send_signal(signal.SIGTERM)  # the child checkpoints and returns
                        child.signalled = True
            for child in [c for c in running if c.proc.poll() is not None]:
                running.remove(child)
                status.outcomes.append(_finish(child))
                status.running = [c.spec for c in running]
                notify(status)
            if running:
                time.sleep(POLL_SECONDS)
    order = {spec.name: i for i, spec in enumerate(specs)}
    return sorted(status.outcomes, key=lambda o: order[o.spec.name]), status
