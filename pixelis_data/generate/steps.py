"""Step constructors: one function per action, each returning a ``{action, thought, parameters, result}``
dict in the pixelis input format with realistic parameters and observation text.

Every call builds fresh lists and dicts, so no two steps share a mutable object unless a caller makes
them (self-corrections copy on purpose, see ``trajectories``).
"""

from __future__ import annotations

import random

from pixelis_data.generate.scene import Obj, padded, pick
from pixelis_data.generate.vocab import COLOURS

Step = dict


def _step(action: str, thought: str, parameters: dict, result: str) -> Step:
    return {"action": action, "thought": thought, "parameters": parameters, "result": result}


def think(thought: str) -> Step:
    """A reasoning step: a thought, no parameters, no observation."""
    return {"action": "THINK", "thought": thought, "parameters": {}, "result": ""}


_ZOOM_THOUGHTS = (
    "Zoom in on the {n} to see it clearly.",
    "Let me look more closely at the {n}.",
    "I should zoom into the area around the {n}.",
    "A closer view of the {n} will help.",
)


def zoom(rng: random.Random, obj: Obj, w: int, h: int, seen: str = "", thought: str = "") -> Step:
    """ZOOM_IN on a padded box around ``obj``; ``seen`` overrides what the close-up shows."""
    bbox = padded(obj.box, 4 + int(rng.random() * 12), w, h)
    result = seen or f"Zoomed view {bbox[2] - bbox[0]}x{bbox[3] - bbox[1]} px: {obj.a_name} fills most of the crop."
    return _step("ZOOM_IN", thought or pick(rng, _ZOOM_THOUGHTS).format(n=obj.ref), {"bbox": bbox}, result)


def zoom_box(bbox: list[int], thought: str, result: str) -> Step:
    """ZOOM_IN on an explicit region (already inside the image)."""
    return _step("ZOOM_IN", thought, {"bbox": bbox}, result)


_SEGMENT_THOUGHTS = (
    "Segment the {n} to get its exact extent.",
    "Let me segment the object at the {n}'s position.",
    "I will get a mask of the {n}.",
)


def segment(rng: random.Random, obj: Obj, seen: Obj | None = None, thought: str = "") -> Step:
    """SEGMENT_OBJECT_AT the centre of ``obj``; the mask describes ``seen`` (default ``obj``)."""
    seen = seen or obj
    cx, cy = obj.centre
    x1, y1, x2, y2 = seen.box
    result = f"Mask: {seen.name}, area {seen.area} px, bbox [{x1}, {y1}, {x2}, {y2}], centroid ({cx}, {cy})."
    return _step(
        "SEGMENT_OBJECT_AT",
        thought or pick(rng, _SEGMENT_THOUGHTS).format(n=obj.ref),
        {"coordinates": [cx, cy]},
        result,
    )


def properties(rng: random.Random, obj: Obj, props: tuple[str, ...], colour: str = "", thought: str = "") -> Step:
    """GET_PROPERTIES of ``obj``; ``colour`` overrides the colour reported (a misperception)."""
    colour = colour or obj.colour
    x1, y1, x2, y2 = obj.box
    parts = []
    for p in props:
        if p == "color":
            r, g, b = COLOURS[colour]
            parts.append(f"color: {colour} (RGB {r}, {g}, {b})")
        elif p == "shape":
            parts.append(f"shape: {obj.shape}")
        elif p == "size":
            parts.append(f"size: {x2 - x1}x{y2 - y1} px (area about {obj.area} px)")
        elif p == "position":
            parts.append(f"position: centre ({(x1 + x2) // 2}, {(y1 + y2) // 2})")
        else:
            raise ValueError(f"unknown property {p!r}")
    result = "; ".join(parts) + "."
    return _step(
        "GET_PROPERTIES",
        thought or f"Check the {', '.join(props)} of the {obj.ref}.",
        {"object": obj.ref, "properties": list(props)},
        result,
    )


def count(obj_name: str, found: list[Obj], thought: str) -> Step:
    """GET_PROPERTIES asking for the count and locations of ``obj_name``; reports ``found``."""
    where = ", ".join(f"({o.centre[0]}, {o.centre[1]})" for o in found)
    result = f"Found {len(found)} {obj_name}{'' if len(found) == 1 else 's'}" + (f" at {where}." if found else ".")
    return _step("GET_PROPERTIES", thought, {"object": obj_name, "properties": ["count", "locations"]}, result)


def read_text(rng: random.Random, sign: Obj, w: int, h: int, text: str = "", thought: str = "") -> Step:
    """READ_TEXT on a region around ``sign``; ``text`` overrides what is read (a misreading)."""
    region = padded(sign.box, 2 + int(rng.random() * 6), w, h)
    conf = 0.80 + 0.19 * rng.random()
    return _step(
        "READ_TEXT",
        thought or f"Read the text on the {sign.ref}.",
        {"region": region},
        f"Text: '{text or sign.text}' (confidence {conf:.2f}).",
    )


def track(obj_name: str, positions: list[tuple[int, int]], thought: str) -> Step:
    """TRACK_OBJECT ``obj_name`` over the frames, reporting its centre in each (frame coordinates)."""
    frames = list(range(len(positions)))
    where = "; ".join(f"frame {i}: ({x}, {y})" for i, (x, y) in enumerate(positions))
    return _step(
        "TRACK_OBJECT",
        thought,
        {"object": obj_name, "frames": frames},
        f"Track of the {obj_name} (centre within each frame): {where}.",
    )
