"""``SplitConfig``: every knob of ``pixelis split`` (docs/design.md §5), the ``split:`` section of the data YAML.

This module must not import ``pixelis_data.config`` (that module imports this one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pixelis_core.config_io import Problems


@dataclass(frozen=True)
class SplitConfig:
    """Percentile categories, IQR outlier filter, held-out eval selection and balance-report checks."""

    simple_percentile: float = 33.0
    """Percentile (0-100) of the IQR-filtered scores that is the upper bound (inclusive) of ``simple``."""
    medium_percentile: float = 66.0
    """Percentile (0-100) of the IQR-filtered scores that is the upper bound (inclusive) of ``medium``."""
    iqr_multiplier: float = 1.5
    """Scores outside [q1 - k*IQR, q3 + k*IQR] are ignored when computing thresholds (``.inf``: no filter)."""
    eval_fraction: float = 0.05
    """Held-out share: a sample is eval when its stable hash falls under this fraction of the hash range."""
    eval_per_category: int | None = None
    """When set, hold out exactly this many samples per category (the smallest hashes) instead of a fraction."""
    min_eval_per_category: int = 1
    """With ``eval_fraction`` > 0, top up a category to at least this many eval samples (smallest hashes)."""
    eval_salt: str = "pixelis-eval-v1"
    """Mixed into the hash of sample_id; change it to draw a different, equally stable eval set."""
    batch_rows: int = 65_536
    """Rows per Arrow record batch read and written; memory use scales with this, not with the input."""
    min_category_share: float = 0.25
    """The balance report warns when a category holds less than this share of all samples."""
    min_task_types: int = 3
    """The balance report warns when a category has fewer distinct task types than this."""
    ties: Literal["inclusive", "spread"] = "inclusive"
    """Samples on a threshold: ``inclusive`` all go to the lower category; ``spread`` by hash to the percentiles."""
    tie_warning_share: float = 0.05
    """Warn when the inclusive rule puts more than this share of all samples above a threshold's percentile target."""

    def __post_init__(self) -> None:
        p = Problems()
        for name in ("simple_percentile", "medium_percentile"):
            value = getattr(self, name)
            p.check(0 <= value <= 100, f"{name}: must be between 0 and 100 (got {value})")
        p.check(
            self.simple_percentile <= self.medium_percentile,
            f"simple_percentile/medium_percentile: simple_percentile must be <= medium_percentile "
            f"(got {self.simple_percentile}, {self.medium_percentile})",
        )
        p.check(
            not math.isnan(self.iqr_multiplier) and self.iqr_multiplier >= 0,
            f"iqr_multiplier: must be >= 0 (.inf disables the filter) (got {self.iqr_multiplier})",
        )
        p.number("eval_fraction", self.eval_fraction, 0, 1, high_open=True)
        p.check(
            self.eval_per_category is None or self.eval_per_category >= 0,
            f"eval_per_category: must be >= 0 or null (got {self.eval_per_category})",
        )
        p.check(
            self.min_eval_per_category >= 0, f"min_eval_per_category: must be >= 0 (got {self.min_eval_per_category})"
        )
        p.check(
            1 <= self.batch_rows <= 10_000_000, f"batch_rows: must be between 1 and 10000000 (got {self.batch_rows})"
        )
        p.number("min_category_share", self.min_category_share, 0, 1)
        p.check(self.min_task_types >= 0, f"min_task_types: must be >= 0 (got {self.min_task_types})")
        p.literals(self)
        p.number("tie_warning_share", self.tie_warning_share, 0, 1)
        p.raise_if_any()

    @property
    def eval_mode(self) -> str:
        """``per_category`` when ``eval_per_category`` is set, else ``fraction``."""
        return "fraction" if self.eval_per_category is None else "per_category"
