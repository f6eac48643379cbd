"""One writer per output directory: an exclusive ``flock`` on ``DIR/.pixelis.lock`` holding the writer's pid.

The kernel drops a ``flock`` when its process dies (even by SIGKILL), so a lock file whose lock is free
but which still names a pid was left by a process that died while writing: the next writer takes it over
(``DirLock.stale_pid`` says whose it was, for a warning). A live holder makes :func:`acquire` raise
:class:`LockBusyError` naming its pid. Releasing unlinks the file before closing it; an acquirer that
opened the old file meanwhile notices (the path no longer leads to its inode) and opens the new one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = ".pixelis.lock"
_PID_WAIT_S = 1.0  # how long to wait for a holder that has the lock but has not written its pid yet


class LockBusyError(RuntimeError):
    """Another live process holds the directory's lock."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "a process that has not written its pid yet"
        super().__init__(
            f"{directory} is in use by another pixelis process ({holder}); wait for it to finish, "
            "stop it, or write to another directory"
        )


@dataclass
class DirLock:
    """A held lock; :meth:`release` (or leaving :func:`dir_lock`) gives it up."""

    directory: Path
    path: Path
    fd: int
    stale_pid: int | None
    """The pid a dead holder left in the lock file (None when the lock was free and clean)."""
    created_dir: bool
    """Whether acquiring created ``directory`` (then an empty one is removed on release, if asked)."""

    def release(self, *, remove_empty_dir: bool = False) -> None:
        """Unlink the lock file, then drop the lock (in that order: see the module docstring)."""
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1
        if remove_empty_dir and self.created_dir:
            with contextlib.suppress(OSError):  # not empty (or gone): leave it
                self.directory.rmdir()


def _read_pid(fd: int) -> int | None:
    raw = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    return int(raw) if raw.isdigit() else None


def _holder_pid(fd: int) -> int | None:
    """The pid in a lock file someone else holds (waiting briefly for one that was just taken)."""
    deadline = time.monotonic() + _PID_WAIT_S
    while True:
        pid = _read_pid(fd)
        if pid is not None or time.monotonic() > deadline:
            return pid
        time.sleep(0.02)


def acquire(directory: str | os.PathLike[str]) -> DirLock:
    """Take the exclusive lock of ``directory`` (created if missing) without waiting.

    Raises :class:`LockBusyError` when a live process holds it, ``NotADirectoryError`` /
    ``FileExistsError`` / ``PermissionError`` when ``directory`` cannot hold a lock file.
    """
    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise
            pid = _holder_pid(fd)
            os.close(fd)
            raise LockBusyError(directory, pid) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder released (unlinked) it between our open and our flock: try the new file
    stale = _read_pid(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    os.fsync(fd)
    return DirLock(directory, path, fd, stale if stale != os.getpid() else None, created)


@contextlib.contextmanager
def dir_lock(
    directory: str | os.PathLike[str],
    *,
    warn: Callable[[str], None] | None = None,
    remove_empty_dir: bool = False,
) -> Iterator[DirLock]:
    """Hold the lock of ``directory`` for the block; a stale lock taken over is reported through ``warn``.

    ``remove_empty_dir``: a directory this call created is removed again when it is empty at the end
    (a failed writer leaves no empty output behind).
    """
    lock = acquire(directory)
    if lock.stale_pid is not None and warn is not None:
        warn(
            f"{lock.directory}: took over the lock left by pid {lock.stale_pid}, "
            "which is no longer running (it was killed while writing here)"
        )
    try:
        yield lock
    finally:
        lock.release(remove_empty_dir=remove_empty_dir)
