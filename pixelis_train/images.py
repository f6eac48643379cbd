"""Loading sample images relative to an image root, ZOOM_IN crops of them, and the up-front check for missing ones.

A missing or unreadable image raises :class:`BadSampleError` naming the sample; the caller decides
whether that stops the run or becomes a counted skip (``skip_bad_samples``). Nothing is dropped silently.
:func:`missing_images` finds missing files of a whole split before a run builds its model.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pixelis_train._deps import require
from pixelis_train.stream.split_files import open_arrow

Image = require("PIL.Image")

# A crop smaller than this (in pixels, per side) is grown around its centre: degenerate boxes (x1 == x2)
# happen in real trajectories and a 1-pixel crop carries no information for the vision tower.
MIN_CROP = 28


class BadSampleError(ValueError):
    """A sample that cannot be formatted (missing image, unreadable image, bad bbox, ...)."""

    def __init__(self, sample_id: str, reason: str) -> None:
        self.sample_id = sample_id
        self.reason = reason
        super().__init__(f"sample {sample_id!r}: {reason}")


def resolve_image_path(path: str, image_root: Path | None) -> Path:
    """``path`` as given when absolute, else relative to ``image_root`` (or the working directory)."""
    p = Path(path)
    if p.is_absolute() or image_root is None:
        return p
    return image_root / p


def is_empty_data_uri(path: str) -> bool:
    """A ``data:`` URI whose payload was stripped (exports often keep only ``data:image/jpeg;base64,``)."""
    if not path.startswith("data:"):
        return False
    payload = path.partition(",")[2].strip()
    return not payload or payload.startswith("<")  # e.g. the readers' "<0 bytes>" placeholder


def _decode_data_uri(path: str, sample_id: str) -> Any:
    header, _, payload = path.partition(",")
    try:
        raw = base64.b64decode(payload, validate=True) if header.endswith(";base64") else payload.encode()
        with Image.open(io.BytesIO(raw)) as img:
            return img.convert("RGB")
    except (ValueError, OSError) as err:
        raise BadSampleError(sample_id, f"inline data: image unreadable ({err})") from None


def load_image(path: str, image_root: Path | None, sample_id: str) -> Any:
    """Open ``path`` (relative to ``image_root``, or an inline ``data:`` URI) as an RGB PIL image.

    Raises :class:`BadSampleError` naming the sample when the image is missing or unreadable.
    """
    if path.startswith("data:"):
        if is_empty_data_uri(path):
            raise BadSampleError(sample_id, "inline data: image has no payload")
        return _decode_data_uri(path, sample_id)
    if path.startswith(("http://", "https://")):
        raise BadSampleError(sample_id, f"image {path[:60]!r} is a URL; download images and pass --image-root")
    full = resolve_image_path(path, image_root)
    try:
        with Image.open(full) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise BadSampleError(sample_id, f"image not found: {full}") from None
    except OSError as err:
        raise BadSampleError(sample_id, f"image unreadable: {full} ({err})") from None


def parse_bbox(parameters: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """The [x1, y1, x2, y2] pixel box of a ZOOM_IN step (``bbox`` or Qwen's ``bbox_2d``), if it has one."""
    for key in ("bbox", "bbox_2d", "box"):
        value = parameters.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if (
            isinstance(value, Sequence)
            and len(value) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            x1, y1, x2, y2 = (float(v) for v in value)
            return x1, y1, x2, y2
    return None


def clamp_bbox(
    bbox: tuple[float, float, float, float], width: int, height: int, min_size: int = MIN_CROP
) -> tuple[int, int, int, int]:
    """Integer crop box inside the image: corners ordered, clamped, and grown to ``min_size`` when smaller."""
    x1, y1, x2, y2 = bbox
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))

    def axis(lo: float, hi: float, limit: int) -> tuple[int, int]:
        lo_i = max(0, min(limit, int(lo)))
        hi_i = max(0, min(limit, round(hi)))
        size = min(min_size, limit)
        if hi_i - lo_i < size:
            centre = (lo_i + hi_i) / 2
            lo_i = int(max(0, min(limit - size, round(centre - size / 2))))
            hi_i = lo_i + size
        return lo_i, hi_i

    left, right = axis(x1, x2, width)
    top, bottom = axis(y1, y2, height)
    return left, top, right, bottom


def crop(image: Any, bbox: tuple[float, float, float, float]) -> Any:
    """The region of ``image`` under ``bbox`` (clamped; degenerate boxes grown to :data:`MIN_CROP`)."""
    return image.crop(clamp_bbox(bbox, image.width, image.height))


@dataclass(frozen=True)
class MissingImages:
    """Image files of a split that do not exist (checked before a run builds its model)."""

    samples: int
    """Samples (of every split file) with at least one missing image."""
    files: int
    """Distinct missing files."""
    checked: int
    """Distinct image files referenced (inline data and URLs are not files: not counted)."""
    first_sample: str | None = None
    first_path: Path | None = None

    def message(self, split_dir: Path) -> str:
        """One line naming the first missing file and the two flags that fix it."""
        return (
            f"sample {self.first_sample!r}: image not found: {self.first_path} ({self.samples} sample(s) of "
            f"{split_dir} miss {self.files} of {self.checked} image file(s)); pass --image-root DIR, the "
            "directory the image paths are relative to (data.image_root), or --skip-bad-samples to skip and "
            "count those samples (data.skip_bad_samples)"
        )


def _referenced(path: Path) -> pl.DataFrame:
    """(sample_id, path) of every source image and every observation image a split file names."""
    frame = pl.from_arrow(open_arrow(path).select(["sample_id", "images", "trajectory"]))
    source = frame.select("sample_id", pl.col("images").alias("path")).explode("path")
    results = frame.select("sample_id", pl.col("trajectory").list.eval(pl.element().struct.field("result")))
    results = results.explode("trajectory").drop_nulls("trajectory")
    observed = [
        results.select("sample_id", pl.col("trajectory").str.json_path_match(f"$.{key}").alias("path"))
        for key in ("image", "image_path")
    ]
    return pl.concat([source, *observed]).filter(
        pl.col("path").is_not_null()
        & (pl.col("path") != "")
        & ~pl.col("path").str.starts_with("data:")
        & ~pl.col("path").str.contains(r"^https?://")
    )


def missing_images(split_dir: Path, image_root: Path | None, names: Sequence[str]) -> MissingImages:
    """Which image files the split files ``names`` (``simple``, ..., ``eval``) reference that do not exist.

    One stat per distinct file; the rows themselves are handled as Polars columns.
    """
    refs = pl.concat(
        [_referenced(split_dir / f"{name}.arrow") for name in names if (split_dir / f"{name}.arrow").is_file()]
    )
    paths = refs.get_column("path").unique(maintain_order=True).to_list()
    gone = [p for p in paths if not resolve_image_path(p, image_root).is_file()]
    if not gone:
        return MissingImages(0, 0, len(paths))
    bad = refs.filter(pl.col("path").is_in(gone))
    first = bad.row(0, named=True)
    return MissingImages(
        samples=bad.get_column("sample_id").n_unique(),
        files=len(gone),
        checked=len(paths),
        first_sample=str(first["sample_id"]),
        first_path=resolve_image_path(first["path"], image_root),
    )
