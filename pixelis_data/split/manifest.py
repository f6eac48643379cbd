"""``manifest.json``: written last and atomically, so a split directory without it is incomplete."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pixelis_core.atomic import write_json_atomic
from pixelis_core.lock import LOCK_NAME

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
KIND = "pixelis-split"
REJECTS = "rejects.jsonl"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_files(path: Path) -> list[Path]:
    """The files behind an input path: itself, or every file under a directory (sorted, hidden skipped)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def input_hashes(path: Path) -> list[dict[str, Any]]:
    """``[{path, bytes, sha256}]`` of every input file (paths as given / relative to an input directory)."""
    out = []
    for f in input_files(path):
        shown = str(f.relative_to(path)) if path.is_dir() else str(path)
        out.append({"path": shown, "bytes": f.stat().st_size, "sha256": sha256_file(f)})
    return out


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The split manifest of ``out_dir``, or None when there is none (or it belongs to something else)."""
    path = out_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("kind") == KIND and "format_version" in data:
        return data
    return None


def check_output_dir(out_dir: Path, *, overwrite: bool) -> None:
    """Refuse a non-empty directory that is not a finished pixelis split, unless ``overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a directory")
    if overwrite or not out_dir.exists() or read_manifest(out_dir) is not None:
        return
    if any(p.name != LOCK_NAME for p in out_dir.iterdir()):  # the lock of this very write does not count
        raise FileExistsError(
            f"{out_dir}: directory is not empty and holds no pixelis manifest; pass --overwrite to write into it"
        )


def begin_rewrite(out_dir: Path, owned: tuple[str, ...]) -> None:
    """Create ``out_dir`` and delete an old manifest first, so a half-rewritten directory never looks done.

    Temporary files a killed run left behind for the ``owned`` names (``atomic_path`` names them
    ``.<name>.<random>.tmp``) are removed too; nothing else in the directory is touched.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    for name in (*owned, MANIFEST, REJECTS):
        for leftover in out_dir.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (the last write of a split)."""
    path = out_dir / MANIFEST
    write_json_atomic(path, manifest)
    return path
