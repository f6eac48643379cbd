"""Scenes: the objects an image shows, laid out on a grid so that every bbox is inside the image.

A task builder creates a scene, asks its question about it and writes the trajectory from it; the image
renderer draws the same scene. So the colour, count, position or text a question asks about is really
there, and every bbox in a trajectory points at a drawn object.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pixelis_data.generate.vocab import COLOUR_NAMES, LOOKALIKE, SHAPE_AREA, SHAPES

Box = tuple[int, int, int, int]
T = TypeVar("T")


def indefinite(word: str) -> str:
    """The indefinite article for ``word``."""
    return "an" if word[0] in "aeiou" else "a"


class Obj:
    """One drawn object: a filled shape (or a sign with text) inside ``box`` = (x1, y1, x2, y2).

    ``frame`` is the panel of a multi-frame scene (-1 for single images); ``ref`` see below. A plain slotted class with
    its name precomputed: this is built and read millions of times.
    """

    __slots__ = ("box", "colour", "frame", "name", "ref", "shape", "text")

    def __init__(self, shape: str, colour: str, box: Box, text: str = "", frame: int = -1, ref: str = "") -> None:
        self.shape, self.colour, self.box, self.text, self.frame = shape, colour, box, text, frame
        self.name = f"{colour} {shape}"
        # How a trajectory refers to the object before it has looked: "triangle" when the question asks
        # for its colour, so that no thought or parameter gives the answer away.
        self.ref = ref or self.name

    def __repr__(self) -> str:
        return f"Obj({self.name!r}, box={self.box}, text={self.text!r}, frame={self.frame})"

    @property
    def a_name(self) -> str:
        """The name with its indefinite article: "an orange circle"."""
        return f"{indefinite(self.colour)} {self.name}"

    @property
    def centre(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) // 2, (y1 + y2) // 2

    @property
    def area(self) -> int:
        x1, y1, x2, y2 = self.box
        return int((x2 - x1) * (y2 - y1) * SHAPE_AREA[self.shape])


@dataclass(slots=True)
class Scene:
    """What one image shows. ``panels`` > 1 splits it into a 2x2 grid of video frames."""

    width: int
    height: int
    background: tuple[int, int, int]
    objects: list[Obj] = field(default_factory=list)
    outlines: list[tuple[str, Box]] = field(default_factory=list)  # (colour, box) drawn as frames
    panels: int = 1


@functools.lru_cache(maxsize=256)
def cells(w: int, h: int, cols: int, rows: int, area: Box | None = None) -> tuple[Box, ...]:
    """The grid cells of ``area`` (default: the whole image), row by row."""
    ax1, ay1, ax2, ay2 = area if area is not None else (0, 0, w, h)
    cw, ch = (ax2 - ax1) / cols, (ay2 - ay1) / rows
    return tuple(
        (int(ax1 + c * cw), int(ay1 + r * ch), int(ax1 + (c + 1) * cw), int(ay1 + (r + 1) * ch))
        for r in range(rows)
        for c in range(cols)
    )


def box_in(rng: random.Random, cell: Box, lo: float = 0.45, hi: float = 0.85, aspect: float = 1.0) -> Box:
    """A box of a random size (``lo``..``hi`` of the cell's smaller side) at a random place in ``cell``.

    ``aspect`` > 1 makes it wider than tall (signs). The box never leaves the cell.
    """
    x1, y1, x2, y2 = cell
    cw, ch = x2 - x1, y2 - y1
    side = min(cw / aspect, ch) * (lo + (hi - lo) * rng.random())
    bw, bh = max(6, int(side * aspect)), max(6, int(side))
    bw, bh = min(bw, cw - 2), min(bh, ch - 2)
    ox = x1 + 1 + int((cw - 2 - bw) * rng.random())
    oy = y1 + 1 + int((ch - 2 - bh) * rng.random())
    return ox, oy, ox + bw, oy + bh


def scaled(box: Box, factor: float) -> Box:
    """``box`` scaled about its centre (kept integer)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw, hh = (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return int(cx - hw), int(cy - hh), int(cx + hw), int(cy + hh)


def padded(box: Box, pad: int, w: int, h: int) -> list[int]:
    """``box`` grown by ``pad`` pixels and clipped to the image: a ZOOM_IN / READ_TEXT region."""
    x1, y1, x2, y2 = box
    return [max(0, x1 - pad), max(0, y1 - pad), min(w, x2 + pad), min(h, y2 + pad)]


def union(boxes: list[Box]) -> Box:
    """The smallest box holding all ``boxes``."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` without its overhead (this runs millions of times)."""
    return seq[int(rng.random() * len(seq))]


def sample(rng: random.Random, seq: Sequence[T], k: int) -> list[T]:
    """``k`` distinct items of ``seq`` in random order: a partial Fisher-Yates on ``rng.random()``.

    Several times faster than ``random.sample`` for the short sequences used here.
    """
    pool = list(seq)
    n = len(pool)
    if k > n:
        raise ValueError(f"cannot take {k} items from {n}")
    for i in range(k):
        j = i + int(rng.random() * (n - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def others(rng: random.Random, seq: Sequence[T], exclude: tuple[T, ...], k: int) -> list[T]:
    """``k`` items of ``seq`` not in ``exclude`` (in a random order, without repeats)."""
    return sample(rng, [s for s in seq if s not in exclude], k)


# colour -> the colours it may stand beside without a look-alike pair (in both directions)
_COMPATIBLE: dict[str, frozenset[str]] = {
    c: frozenset(x for x in COLOUR_NAMES if x != c and x != LOOKALIKE[c] and c != LOOKALIKE[x]) for c in COLOUR_NAMES
}


def distinct_objects(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (colour, shape) pairs with unique shapes and colours that are not look-alikes of each other."""
    shapes = sample(rng, SHAPES, n)
    pool = list(COLOUR_NAMES)
    colours: list[str] = []
    for i in range(len(pool)):  # a lazy Fisher-Yates: stop as soon as n colours fit together
        j = i + int(rng.random() * (len(pool) - i))
        pool[i], pool[j] = pool[j], pool[i]
        c = pool[i]
        if all(c in _COMPATIBLE[x] for x in colours):
            colours.append(c)
            if len(colours) == n:
                break
    return list(zip(colours, shapes, strict=True))
