"""Atomic writes: a later step only ever sees a complete file (temp file in the same dir + rename).

Temp names carry the writer's pid, ``.<name>.<pid>-<random>.tmp``: on SIGTERM / SIGINT the blocks below
remove their temp files as they unwind (the CLI makes SIGTERM raise, ``processes.exit_on_sigterm``),
and the temp files of a process that died by SIGKILL are removed by the next write into the same
folder (:func:`sweep_stale`). A failed write raises :class:`~pixelis_core.write_errors.WriteError`
naming the target, not the temp file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixelis_core.processes import pid_alive
from pixelis_core.write_errors import write_error

# .<target name>.<pid>-<mkstemp's random part>.tmp (files and directories alike)
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")
_swept: set[Path] = set()


def temp_prefix(target: Path) -> str:
    """The start of a temp name for ``target`` (mkstemp / mkdtemp add the random part and ``.tmp``)."""
    return f".{target.name}.{os.getpid()}-"


def target_of(path: str | os.PathLike[str]) -> Path:
    """The path a temp file or directory stands for (``path`` itself when it is not a temp name)."""
    path = Path(path)
    match = TEMP_NAME.match(path.name)
    return path.with_name(match["name"]) if match else path


def sweep_stale(directory: Path, *, force: bool = False) -> list[Path]:
    """Remove the temp files and directories in ``directory`` whose writer process is dead; returns them.

    Done once per folder per process (``force``: again). A temp of a live process, this one included,
    is never touched; pids are checked on this machine only (a folder shared by several machines may
    hold temps of live processes elsewhere: their pids look dead here only if unused here too).
    """
    key = directory.resolve()
    if key in _swept and not force:
        return []
    _swept.add(key)
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # another process swept it first
            continue
        except OSError:  # not ours to remove (permissions): leave it
            continue
        removed.append(path)
    return removed


def _prepare(target: Path) -> None:
    """Create the target's folder and sweep it; a failure names ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise (write_error(err, target) or err) from err
    sweep_stale(target.parent)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    Deleting the temporary file inside the block means "write nothing": ``target`` is left as it was.
    """
    target = Path(target)
    _prepare(target)
    tmp_path: Path | None = None
    # the temp file is made inside the try, so that a signal right after it (a KeyboardInterrupt raised
    # between two bytecodes) still reaches the finally below
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
        except OSError as err:
            raise (write_error(err, target) or err) from err
        tmp_path = Path(tmp)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the final file gets the usual permissions
        yield tmp_path
        if tmp_path.exists():
            os.replace(tmp_path, target)
    except Exception as err:
        converted = None if tmp_path is None else write_error(err, target, tmp_path)
        if converted is None:
            raise
        raise converted from err
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``target`` atomically."""
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; when the block succeeds it replaces ``target``.

    A reader sees the old directory or the complete new one, never a half-written one. ``fsync``
    flushes every file and directory before the rename (checkpoints: the rename must not outrun the
    data on a crash). On failure the temporary directory is removed and ``target`` is left as it was.
    """
    target = Path(target)
    _prepare(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    except OSError as err:
        raise (write_error(err, target) or err) from err
    try:
        yield tmp
        if fsync:
            _fsync_tree(tmp)
        if target.exists():  # a rerun of the same step, or a refreshed adapter: the new one wins
            shutil.rmtree(target)
        os.replace(tmp, target)
        if fsync:
            fsync_dir(target.parent)
    except Exception as err:
        converted = write_error(err, target, tmp)
        if converted is None:
            raise
        raise converted from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    for directory in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (a rename into it) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
