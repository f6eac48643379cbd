"""pixelis data engine: canonical records, readers, difficulty factors, scoring, splitting.

This package never imports torch; training lives in ``pixelis_train`` (``pip install 'pixelis[train]'``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pixelis")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
