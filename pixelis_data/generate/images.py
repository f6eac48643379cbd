"""Rendering a scene to PNG bytes with Pillow (imported only when images are asked for).

The PNG bytes are a pure function of the scene: no timestamps or other metadata are written, and the
font is Pillow's bundled default, so the same seed gives the same files.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from pixelis_data.generate.scene import Scene
from pixelis_data.generate.vocab import COLOURS

PILLOW_HINT = "writing images needs Pillow: pip install 'pixelis[train]'"


def require_pillow() -> Any:
    """The PIL package, or an ImportError that says how to install it."""
    try:
        import PIL.Image
        import PIL.ImageDraw
        import PIL.ImageFont
    except ImportError as err:
        raise ImportError(PILLOW_HINT) from err
    return PIL


@functools.lru_cache(maxsize=64)
def _font(size: int) -> Any:
    pil = require_pillow()
    try:
        return pil.ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow built without FreeType: the fixed bitmap font
        return pil.ImageFont.load_default()


def _fitting_font(draw: Any, text: str, width: int, height: int) -> Any:
    """The largest default font (down to 7 px) whose rendering of ``text`` fits in width x height."""
    size = max(7, int(height * 0.7))
    while True:
        font = _font(size)
        x1, y1, x2, y2 = draw.textbbox((0, 0), text, font=font)
        if (x2 - x1 <= width and y2 - y1 <= height) or size <= 7:
            return font
        size -= 1


def _ink(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``rgb``."""
    r, g, b = rgb
    return (20, 20, 20) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def render_png(scene: Scene) -> bytes:
    """The scene as PNG bytes (RGB, ``scene.width`` x ``scene.height``)."""
    pil = require_pillow()
    img = pil.Image.new("RGB", (scene.width, scene.height), scene.background)
    draw = pil.ImageDraw.Draw(img)
    w, h = scene.width, scene.height
    if scene.panels == 4:
        grid = (90, 90, 90)
        draw.line([(w // 2, 0), (w // 2, h)], fill=grid, width=2)
        draw.line([(0, h // 2), (w, h // 2)], fill=grid, width=2)
        small = _font(9)
        for f in range(4):
            ox, oy = (f % 2) * (w // 2), (f // 2) * (h // 2)
            draw.text((ox + w // 2 - 12, oy + 2), str(f), fill=grid, font=small)
    for colour, box in scene.outlines:
        draw.rectangle(box, outline=COLOURS[colour], width=3)
    for o in scene.objects:
        fill = COLOURS[o.colour]
        x1, y1, x2, y2 = o.box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if o.shape == "circle":
            draw.ellipse(o.box, fill=fill)
        elif o.shape == "square":
            draw.rectangle(o.box, fill=fill)
        elif o.shape == "triangle":
            draw.polygon([(x1, y2), (x2, y2), (cx, y1)], fill=fill)
        elif o.shape == "diamond":
            draw.polygon([(cx, y1), (x2, cy), (cx, y2), (x1, cy)], fill=fill)
        elif o.shape == "hexagon":
            draw.regular_polygon((cx, cy, (x2 - x1) / 2), 6, fill=fill)
        elif o.shape == "sign":
            draw.rectangle(o.box, fill=fill, outline=(40, 40, 40), width=1)
            font = _fitting_font(draw, o.text, x2 - x1 - 6, y2 - y1 - 4)
            tx1, ty1, tx2, ty2 = draw.textbbox((0, 0), o.text, font=font)  # no anchor: bitmap fonts lack it
            draw.text((cx - (tx1 + tx2) / 2, cy - (ty1 + ty2) / 2), o.text, fill=_ink(fill), font=font)
        else:
            raise ValueError(f"cannot draw shape {o.shape!r}")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
