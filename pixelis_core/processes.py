"""Process lifetime: is a pid alive, SIGTERM that unwinds (so temp files are removed), die with the parent.

``exit_on_sigterm`` is installed by the CLI entry point: SIGTERM then raises :class:`SystemExit` in the
main thread, so every ``with atomic_path(...)`` / ``atomic_dir(...)`` block removes its temporary file
on the way out, as SIGINT's KeyboardInterrupt already does. Code with its own graceful stop (the
training loop's ``StopFlag``) replaces the handler while it runs and puts it back after.

``die_with_parent`` is called by every torchrun worker: when the launcher (torchrun's agent) dies, even
by SIGKILL, the worker is killed too instead of training on as an orphan.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from typing import Any

SIGTERM_EXIT = 128 + signal.SIGTERM  # the shell's code for "killed by SIGTERM"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCHDOG_INTERVAL_S = 0.5


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed child nobody reaped yet is dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux), or it vanished meanwhile: os.kill said it exists
        return True
    return state not in (b"Z", b"X")


def exit_on_sigterm() -> None:
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread; a second SIGTERM while unwinding is ignored.

    Ignoring the second one keeps it from cutting a ``finally`` that is removing a temp file; SIGKILL
    still ends the process at once. Does nothing outside the main thread (signals cannot be set there).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum: int, _frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)
    raise SystemExit(SIGTERM_EXIT)


def under_torchrun() -> bool:
    """Whether this process is a worker started by torchrun (its agent sets this in the environment).

    Not ``LOCAL_RANK`` alone: a shell that happens to export it must not tie a job to that shell.
    """
    return "TORCHELASTIC_RUN_ID" in os.environ


_guarded_parent: int | None = None


def die_with_parent() -> str:
    """Kill this process (SIGKILL) when its parent dies; returns how: 'prctl', 'watchdog' or 'already'.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, which the kernel honours even when the parent is
    SIGKILLed. Elsewhere (or if prctl fails): a daemon thread that polls the parent pid. A parent that
    dies while this is being set up is noticed too. Calling it again is a no-op.
    """
    global _guarded_parent
    parent = os.getppid()
    if _guarded_parent is not None:
        return "already"
    _guarded_parent = parent
    how = "prctl" if _set_pdeathsig(signal.SIGKILL) else "watchdog"
    if how == "watchdog":
        start_parent_watchdog(parent)
    if os.getppid() != parent:  # the parent died between reading its pid and prctl taking effect
        os.kill(os.getpid(), signal.SIGKILL)
    return how


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc / no prctl symbol: the watchdog takes over
        return False


def start_parent_watchdog(parent: int, interval_s: float = WATCHDOG_INTERVAL_S) -> threading.Thread:
    """A daemon thread that SIGKILLs this process once ``parent`` is no longer its parent (it died)."""

    def watch() -> None:
        while os.getppid() == parent and pid_alive(parent):
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="pixelis-parent-watchdog", daemon=True)
    thread.start()
    return thread
