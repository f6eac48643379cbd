"""User factor modules: functions returning ``pl.Expr`` over the canonical columns, added with a weight.

Each weighted function becomes a :class:`~pixelis_data.factor_registry.Factor` (no config section, its
weight from ``score.custom.weights``), scored and weighted by the same code as the built-in factors.
The functions take no arguments; their expressions may read the canonical columns and the shared
counts (:func:`factor_inputs`), which are checked when the module is loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pixelis_core.text import plural_word
from pixelis_data.factor_registry import REGISTRY_COLUMNS, Factor
from pixelis_data.schema import CANONICAL_COLUMNS, DIAGNOSTIC_SCHEMA, SCORE_COLUMN, empty_canonical

# Columns a custom factor must not overwrite: the canonical record and everything `pixelis score` adds.
TAKEN_COLUMNS = frozenset({*CANONICAL_COLUMNS, *REGISTRY_COLUMNS, SCORE_COLUMN, *DIAGNOSTIC_SCHEMA.names()})


class FactorModuleError(ValueError):
    """A custom factor module that cannot be loaded or whose factors are unusable."""


def load_module(spec: str):
    """Import a module by dotted name, or from a ``.py`` file path."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise FactorModuleError(f"factor module {spec}: no such file")
        module_spec = importlib.util.spec_from_file_location(f"pixelis_user_factors_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise FactorModuleError(f"factor module {spec}: cannot be loaded")
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:
            raise FactorModuleError(f"factor module {spec}: failed to import ({type(err).__name__}: {err})") from None
        return module
    try:
        return importlib.import_module(spec)
    except Exception as err:
        raise FactorModuleError(f"factor module {spec}: failed to import ({type(err).__name__}: {err})") from None


def _constant(expr: pl.Expr) -> Callable[[], pl.Expr]:
    """A factor function returning the expression already built (the user function runs once, when checked)."""
    return lambda: expr


def factor_inputs() -> tuple[list[str], set[str]]:
    """(the columns to tell a user about, every column a factor expression can read when it runs).

    Factors run in one projection after the shared counts (``score.count_exprs``), so they see the
    canonical record and those counts (private helpers and, with model scores, the joined ranks are
    readable but not advertised); other factors' columns do not exist yet.
    """
    from pixelis_data.config import ScoreConfig
    from pixelis_data.model_scores import COUNT, RANK  # score imports this module: import at call time
    from pixelis_data.score import count_exprs

    counts = list(count_exprs(ScoreConfig()))
    shown = [*CANONICAL_COLUMNS, *(c for c in counts if not c.startswith("_"))]
    return shown, {*shown, *counts, RANK, COUNT}


def _check_expression(name: str, expr: pl.Expr) -> str | None:
    """The problem of a factor expression on the scored columns (a missing column, a type error), else None.

    Run on an empty frame of the real schema, so a bad factor is named before any record is read.
    """
    from pixelis_data.config import ScoreConfig
    from pixelis_data.score import count_exprs

    shown, readable = factor_inputs()
    try:
        used = expr.meta.root_names()
    except pl.exceptions.PolarsError:  # polars cannot introspect it: the trial run below still checks it
        used = []
    missing = [c for c in dict.fromkeys(used) if c not in readable]
    if missing:
        return (
            f"{name}(): uses {plural_word(len(missing), 'column')} {', '.join(map(repr, missing))} that "
            f"{plural_word(len(missing), 'does', 'do')} not exist when factors are computed "
            f"(columns: {', '.join(shown)})"
        )
    frame = empty_canonical().lazy().with_columns(e.alias(n) for n, e in count_exprs(ScoreConfig()).items())
    try:
        frame.select(expr.alias(name)).collect()
    except pl.exceptions.ColumnNotFoundError:  # a column of the model-score join: exists only with it
        return None
    except pl.exceptions.PolarsError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"{name}(): fails on the scored columns ({type(err).__name__}: {first})"
    return None


def custom_factors(spec: str, weights: dict[str, float]) -> tuple[Factor, ...]:
    """One :class:`Factor` per weighted function of the module, in ``weights`` order; all problems at once."""
    module = load_module(spec)
    problems: list[str] = []
    factors: list[Factor] = []
    public = {n for n, f in inspect.getmembers(module, inspect.isfunction) if not n.startswith("_")}
    if not weights:
        problems.append(
            f"no weights given for its factors ({', '.join(sorted(public)) or 'none found'}); "
            "set score.custom.weights in --config or pass --factor-weight NAME=W"
        )
    for name, weight in weights.items():
        fn = getattr(module, name, None)
        if not callable(fn):
            problems.append(f"{name}: no such function (found: {', '.join(sorted(public)) or 'none'})")
            continue
        if name in TAKEN_COLUMNS:
            problems.append(f"{name}: clashes with a built-in column name")
            continue
        try:
            expr = fn()
        except Exception as err:
            problems.append(f"{name}(): raised {type(err).__name__}: {err}")
            continue
        if not isinstance(expr, pl.Expr):
            problems.append(f"{name}(): must return a polars expression, got {type(expr).__name__}")
            continue
        problem = _check_expression(name, expr)
        if problem:
            problems.append(problem)
            continue
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        description = doc[0] if doc else f"custom factor {name} of {spec}"
        factors.append(Factor(name, _constant(expr), weight, section=None, doc=description))
    if problems:
        raise FactorModuleError(f"factor module {spec}: " + "; ".join(problems))
    return tuple(factors)
