"""Optional heavy dependencies fail with an install hint instead of a bare ImportError."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str = "train") -> ModuleType:
    """Import ``module`` or raise ImportError telling the user which pixelis extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{module} is required for this feature: pip install 'pixelis[{extra}]' ({err})") from None
