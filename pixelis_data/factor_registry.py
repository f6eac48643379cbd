"""The difficulty factors in one place: output column, expression, default weight, config section, description.

Everything that names a factor derives from :data:`BUILTIN_FACTORS`: the default ``score.weights`` (keyed
by output column) and their validation, ``schema.FACTOR_COLUMNS`` (and so the column order of a scores
file), the scoring plan and composite of ``pixelis_data/score.py``, the clash check of custom factors,
and the reports. Custom factors from a user module become :class:`Factor` entries too (section None,
weight from ``score.custom.weights``) and go through the same scoring and composite code.

To add a built-in factor, append one ``Factor`` to ``BUILTIN_FACTORS``: its column is then a scores
column and a ``score.weights`` key whose default is ``weight``. Its expression function gets the
``ScoreConfig`` attribute named by ``section`` (None: no argument) and then the columns named in
``inputs``, in that order; an input that several factors share, or that must be computed before the
factors (a count, a joined column), is added to ``count_exprs`` in ``pixelis_data/score.py``. A new
constants section is a new field of ``ScoreConfig``. Then regenerate ``configs/data.yaml`` (the
command is in its header; ``tests/test_data_config.py`` checks it equals the defaults).

One factor is not a heuristic: :data:`MODEL_FACTOR` (``model_difficulty``), the percentile rank of a model's
per-sample loss read from a model-scores Parquet (``score.model_scores``, ``pixelis_data/model_scores.py``).
It is active only when ``score.model_scores.path`` is set, so its weight is ``score.model_scores.weight``
(default ``MODEL_FACTOR.weight``), not a ``score.weights`` key; the heuristic weights are then scaled to sum
to 1 - that weight (``score.composite_weights``). Without a model-scores file nothing of it appears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from pixelis_data import factors as F

if TYPE_CHECKING:  # config imports this module for its defaults
    from pixelis_data.config import ScoreConfig


@dataclass(frozen=True)
class Factor:
    """One difficulty factor: a float column of the scores file and a weighted term of the composite."""

    column: str
    """Output column, and the factor's key in ``score.weights``."""
    expr: Callable[..., pl.Expr]
    """(section config if any, *input columns) -> the factor's value, a pure ``pl.Expr``."""
    weight: float
    """Weight in the composite: the default of ``score.weights`` (custom factors: their configured one)."""
    section: str | None
    """Attribute of ``ScoreConfig`` holding the factor's constants; None when it has none."""
    inputs: tuple[str, ...] = ()
    """Columns computed before the factors (``count_exprs`` in ``pixelis_data/score.py``) passed to ``expr``."""
    doc: str | None = None
    """One line for help texts and reports; None: the first line of ``expr``'s docstring."""

    @property
    def description(self) -> str:
        """The factor in one line."""
        if self.doc is not None:
            return self.doc
        lines = (self.expr.__doc__ or "").strip().splitlines()
        return lines[0] if lines else self.column

    def build(self, cfg: ScoreConfig) -> pl.Expr:
        """The factor's expression under ``cfg``, as a Float64 column named ``column``."""
        section = () if self.section is None else (getattr(cfg, self.section),)
        return self.expr(*section, *(pl.col(c) for c in self.inputs)).cast(pl.Float64).alias(self.column)


BUILTIN_FACTORS: tuple[Factor, ...] = (
    # output column, expression (factors.py; its docstring is the formula), default weight, config section, inputs
    Factor("trajectory_complexity", F.trajectory_complexity, 0.30, "trajectory", ("n_steps",)),
    Factor(
        "operation_sophistication",
        F.operation_sophistication,
        0.25,
        "operations",
        ("n_known_ops", "n_unique_ops", "_known_weight"),
    ),
    Factor("reasoning_depth", F.reasoning_depth, 0.20, "reasoning", ("n_steps", "n_think")),
    Factor("error_patterns", F.error_patterns, 0.15, "errors", ("_phrase", "n_repetitions", "_repeated_coordinates")),
    Factor("task_type_score", F.task_type_score, 0.10, "task"),
)
"""The built-in factors, in the column order of a scores file."""

FACTORS: dict[str, Factor] = {f.column: f for f in BUILTIN_FACTORS}
"""Built-in factor by output column."""

MODEL_FACTOR = Factor("model_difficulty", F.model_difficulty, 0.5, None, ("_model_rank", "_model_n"))
"""The model factor: joined from ``score.model_scores.path``; weight = default of ``score.model_scores.weight``."""

REGISTRY_COLUMNS: tuple[str, ...] = (*FACTORS, MODEL_FACTOR.column)
"""Every registry factor column a scores file can hold (the built-ins, then the model factor)."""

RENAMED_WEIGHT_KEYS: dict[str, str] = {"task_type": "task_type_score"}
"""Former ``score.weights`` keys -> the column they are now spelled as (a config using one is an error)."""


def default_weights() -> dict[str, float]:
    """The default ``score.weights``: column -> weight of every built-in factor, in registry order."""
    return {f.column: f.weight for f in BUILTIN_FACTORS}
