"""Shared record-level mapping for foreign formats: ids, images, pass-through fields and ``extra``.

Every adapter builds its trajectory, then hands the record's remaining fields here, so that the
record-level rules (what is passed through, what goes to ``extra``) are the same for all formats.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pixelis_data.readers.base import RecordError
from pixelis_data.readers.pixelis import PixelisAdapter, merge_extra

# Record fields that already mean what the pixelis format means by them.
PASSTHROUGH = ("sample_id", "task_type", "sample_type", "question", "answer", "ground_truth", "sampling_weight")
IMAGE_KEYS = ("images", "image_path", "image")
ID_KEYS = ("sample_id", "id")
_PIXELIS = PixelisAdapter()


def kind(value: Any) -> str:
    """'an object', 'a list', ... for error messages."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def media_ref(value: Any) -> str:
    """A reference to an image: the path/URL as given, a data URL shortened to its size.

    Inline payloads (raw bytes, objects without a path) become a marker with their size, so that the
    ``images`` column always holds strings and never a whole image.
    """
    if isinstance(value, dict):
        found = next((value[k] for k in ("url", "path", "image") if isinstance(value.get(k), str)), None)
        if found is None:
            payload = value.get("bytes")
            return f"<inline image, {len(payload)} bytes>" if isinstance(payload, (bytes, str)) else "<inline image>"
        value = found
    if isinstance(value, (bytes, bytearray)):
        return f"<inline image, {len(value)} bytes>"
    if not isinstance(value, str):
        return "<inline image>" if value is None else str(value)
    if value.startswith("data:"):
        head, sep, payload = value.partition(",")
        if sep and head.endswith(";base64"):
            n_bytes = len(payload) * 3 // 4 - payload[-2:].count("=")
            return f"{head},<{n_bytes} bytes>"
        if len(value) > 200:
            return f"{head},<{len(payload)} chars>"
    return value


def images_of(record: dict[str, Any]) -> tuple[list[str] | None, set[str]]:
    """The record-level image references (first of images / image_path / image) and the keys used."""
    for key in IMAGE_KEYS:
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            return [value], {key}
        if isinstance(value, list):
            return [v if isinstance(v, str) else media_ref(v) for v in value], {key}
        if isinstance(value, dict):  # one image as {"path"/"url"/"bytes"}
            return [media_ref(value)], {key}
        raise RecordError(f"{key} must be a path or a list of paths, got {kind(value)}")
    return None, set()


def step(action: str, thought: Any = None, parameters: Any = None, result: Any = None) -> dict[str, Any]:
    """A pixelis trajectory step; absent parts are left out (they become nulls)."""
    out: dict[str, Any] = {"action": action}
    if thought is not None:
        out["thought"] = thought
    if parameters is not None:
        out["parameters"] = parameters
    if result is not None:
        out["result"] = result
    return out


def think(thought: str) -> dict[str, Any]:
    """A THINK step with ``thought``."""
    return {"action": "THINK", "thought": thought}


def build_record(
    record: dict[str, Any],
    mapped: dict[str, Any],
    *,
    source_format: str,
    consumed: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The pixelis-format dict: ``mapped`` fields win, then the record's pass-through fields.

    Keys of ``record`` that are neither consumed by the adapter nor pass-through go to ``extra``
    (with the adapter's own ``extra`` entries and the record's existing ``extra`` field), so nothing
    of the input is dropped. The result is checked by the pixelis adapter.
    """
    mapped = {k: v for k, v in mapped.items() if v is not None}
    consumed = set(consumed)
    used = consumed | set(mapped)
    out: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    images, image_keys = (None, set()) if "images" in mapped else images_of(record)
    if images is not None:
        out["images"] = images
    used |= image_keys
    for key, value in record.items():
        if key in mapped and key in PASSTHROUGH and key not in consumed:
            if value is not None and value != mapped[key]:
                rest[key] = value  # overridden by what the adapter derived: kept, not dropped
            continue
        if key in used:
            continue
        if key in PASSTHROUGH and value is not None:
            out[key] = value
        elif (
            key == "id" and "sample_id" not in record and isinstance(value, (str, int)) and not isinstance(value, bool)
        ):
            out["sample_id"] = str(value)
        elif key != "extra":
            rest[key] = value
    out.update(mapped)
    if extra:
        rest.update(extra)
    rest = merge_extra(record.get("extra"), rest)
    if rest:
        out["extra"] = rest
    out["source_format"] = source_format
    return _PIXELIS.to_pixelis(out)
