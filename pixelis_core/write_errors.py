"""Failed writes as one line naming the user's path and the cause: disk full, read-only, no permission.

A write goes to a temporary file beside the target (``atomic.py``), so the operating system's error
names that temp file, and torch reports a full disk as ``RuntimeError: basic_ios::clear: iostream
error``. :func:`write_error` turns both into a :class:`WriteError` that names the target. It is an
``OSError`` (``filename`` = the user's path, ``strerror`` = the cause), so every ``except OSError`` that
prints ``f"{err.filename}: {err.strerror}"`` prints the right thing.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

# errors that mean "this output cannot be written here", whatever wrote it
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM})
# ... of which these cannot come from reading an input (a write() with no file name attached)
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
# how torch, safetensors (Rust) and Arrow report a failed write, without an errno
WRITE_FAILURE_TEXTS = (
    "iostream error",
    "inline_container.cc",  # torch.save on a full disk: "[enforce fail at inline_container.cc:672] . unexpected pos"
    "PytorchStreamWriter failed",
    "file write failed",
    "No space left on device",
    "StorageFull",
    "os error 28",
    "Read-only file system",
    "os error 30",
)
PROBE_BYTES = 1 << 20


class WriteError(OSError):
    """An output that cannot be written: ``filename`` is the path the user gave, ``strerror`` the cause."""

    def __init__(self, target: str | os.PathLike[str], cause: str, code: int | None = None) -> None:
        super().__init__(code, cause, str(target))

    def __str__(self) -> str:
        return f"{self.filename}: cannot write: {self.strerror}"


def cause_of(code: int | None) -> str:
    """'No space left on device (disk full)', 'Read-only file system', ... for an errno."""
    if code is None:
        return "write failed"
    text = os.strerror(code)
    return f"{text} (disk full)" if code == errno.ENOSPC else text


def _about_output(path: str | os.PathLike[str] | int | None, target: Path, temp: Path | None) -> bool:
    """Whether an error's file name is the output: ``target``, its folder, its temp file (or inside it)."""
    if path is None or isinstance(path, int):
        return False
    p = Path(os.fsdecode(path))
    if p in (target, target.parent) or (temp is not None and (p == temp or temp in p.parents)):
        return True
    # mkstemp / mkdtemp failing name the temp path they tried: ".<target name>.<pid>-<random>.tmp"
    return p.parent == target.parent and p.name.startswith(f".{target.name}.")


def write_error(err: BaseException, target: Path, temp: Path | None = None) -> WriteError | None:
    """``err`` as a :class:`WriteError` naming ``target`` when it is a failed write of it, else None.

    A failed write: an ``OSError`` on ``temp`` / ``target`` (or its directory) with an output errno,
    a disk-full or read-only errno with no file attached, or a torch / safetensors / Arrow write
    failure (its cause probed by writing a little beside ``target``). Errors about other paths (an
    input) are left alone.
    """
    if isinstance(err, WriteError):
        return err
    if isinstance(err, OSError) and err.errno is not None:
        named = _about_output(err.filename, target, temp) or _about_output(err.filename2, target, temp)
        if (named and err.errno in OUTPUT_ERRNOS) or (err.filename is None and err.errno in DISK_ERRNOS):
            return WriteError(target, cause_of(err.errno), err.errno)
        return None
    if isinstance(err, Exception) and any(t in str(err) for t in WRITE_FAILURE_TEXTS):
        code = probe(target.parent)
        if code is not None:
            return WriteError(target, cause_of(code), code)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return WriteError(target, f"write failed ({first})")
    return None


def probe(directory: Path) -> int | None:
    """The errno of writing (and syncing) a small file in ``directory``; None if that works."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".pixelis-probe.{os.getpid()}-", suffix=".tmp", dir=directory)
    except OSError as err:
        return err.errno
    try:
        os.write(fd, b"\0" * PROBE_BYTES)
        os.fsync(fd)
    except OSError as err:
        return err.errno
    finally:
        os.close(fd)
        os.unlink(name)
    return None


def check_writable(target: str | os.PathLike[str]) -> None:
    """Raise :class:`WriteError` now if the file ``target`` could not be written later (before long work).

    The nearest existing folder is probed by creating (and removing) a temp file there; no folder is
    created. A full disk can still fail the write later: :func:`write_error` names that one.
    """
    target = Path(target)
    if target.is_dir():
        raise WriteError(target, "is a directory")
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WriteError(target, f"{existing} is not a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=f".pixelis-probe.{os.getpid()}-", suffix=".tmp", dir=existing)
    except OSError as err:
        raise WriteError(target, cause_of(err.errno), err.errno) from None
    os.close(fd)
    os.unlink(name)
