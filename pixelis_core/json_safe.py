"""JSON has no NaN or infinity and strict readers reject Python's ``NaN``/``Infinity``: one cleaner for all writers."""

from __future__ import annotations

import math
from typing import Any


def json_safe(obj: Any, *, as_string: bool = False) -> Any:
    """``obj`` with every non-finite float replaced, in nested dicts, lists and tuples.

    ``as_string=False`` (metrics): null, "no number". ``as_string=True`` (configs and manifests, where
    ``inf`` is a meaningful setting such as an IQR multiplier that disables the filter): ``"inf"``,
    ``"-inf"``, ``"nan"``.
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj) if as_string else None
    if isinstance(obj, dict):
        return {k: json_safe(v, as_string=as_string) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, as_string=as_string) for v in obj]
    return obj
