"""Percentile split (docs/design.md §5): categories simple/medium/hard + a stable held-out eval set, as Arrow files.

Import ``SplitConfig`` from ``pixelis_data.split.config`` where only the config is needed; this package
never imports ``pixelis_data.config`` at import time (that module imports ``SplitConfig``).
"""

from pixelis_data.split.config import SplitConfig
from pixelis_data.split.hashing import hash_sample_ids, reference_hash
from pixelis_data.split.plan import REQUIRED_COLUMNS, SplitError, SplitPlan, plan_split
from pixelis_data.split.run import SplitResult, input_kind, split_to_dir
from pixelis_data.split.thresholds import Thresholds, compute_thresholds, linear_percentile

__all__ = [
    "REQUIRED_COLUMNS",
    "SplitConfig",
    "SplitError",
    "SplitPlan",
    "SplitResult",
    "Thresholds",
    "compute_thresholds",
    "hash_sample_ids",
    "input_kind",
    "linear_percentile",
    "plan_split",
    "reference_hash",
    "split_to_dir",
]
