"""Run a command in a child process and report its wall time and peak RSS (from wait4's rusage)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0
    """User + system CPU time of the child."""


def measure(label: str, argv: list[str], env: dict[str, str] | None = None) -> Measurement:
    """Run ``argv`` to completion; raise if it fails. Peak RSS is the child's own maximum resident set."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{label} failed ({argv}):\n{stderr}")
    return Measurement(label, seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)
