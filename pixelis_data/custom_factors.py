"""User factor modules: functions returning ``pl.Expr`` over the canonical columns, added with a weight."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

import polars as pl

from pixelis_data.config import FACTOR_NAMES
from pixelis_data.schema import CANONICAL_COLUMNS


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


def custom_factor_exprs(spec: str, weights: dict[str, float]) -> dict[str, pl.Expr]:
    """``{name: expr}`` for each weighted function of the module; every problem is reported at once."""
    module = load_module(spec)
    problems: list[str] = []
    exprs: dict[str, pl.Expr] = {}
    public = {n for n, f in inspect.getmembers(module, inspect.isfunction) if not n.startswith("_")}
    if not weights:
        problems.append(
            f"no weights given for its factors ({', '.join(sorted(public)) or 'none found'}); "
            "set score.custom.weights in --config or pass --factor-weight NAME=W"
        )
    taken = set(CANONICAL_COLUMNS) | set(FACTOR_NAMES) | {"task_type_score", "difficulty_score"}
    for name in weights:
        fn = getattr(module, name, None)
        if not callable(fn):
            problems.append(f"{name}: no such function (found: {', '.join(sorted(public)) or 'none'})")
            continue
        if name in taken:
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
        exprs[name] = expr.cast(pl.Float64).alias(name)
    if problems:
        raise FactorModuleError(f"factor module {spec}: " + "; ".join(problems))
    return exprs
