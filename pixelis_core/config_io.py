"""Frozen-dataclass configs <-> plain dicts / YAML, reporting every problem at once.

A config class is a frozen dataclass whose fields are scalars, tuples, ``dict[str, X]`` or nested
config dataclasses. YAML files have exactly the dataclass shape; unknown keys are errors (a typo must
not silently fall back to a default). ``__post_init__`` methods collect their problems with
:class:`Problems` (whose methods hold the shared checks: integers, bounded numbers, weight tables,
``Literal`` fields) and raise them together. :func:`apply_overrides` is the one way to change fields of
a built config (``--set`` and the specific CLI flags of every command go through it).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """One or more invalid config values; ``problems`` lists each as 'field: what is wrong (got X)'."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


def is_int(value: object) -> bool:
    """An ``int`` that is not a ``bool`` (``True`` is an int to Python, never a count to a config)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Problems:
    """Collects validation problems so that ``__post_init__`` can report all of them at once.

    The checking methods return whether the value passed, so that a dependent check can be skipped.
    """

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.items.append(message)
        return ok

    def add(self, message: str) -> None:
        self.items.append(message)

    def integer(
        self,
        name: str,
        value: object,
        minimum: int | None = None,
        maximum: int | None = None,
        *,
        optional: bool = False,
    ) -> bool:
        """``value`` is an int (not a bool) >= minimum and <= maximum (each bound optional); None when ``optional``."""
        if optional and value is None:
            return True
        ok = is_int(value)
        if ok and minimum is not None:
            ok = value >= minimum  # type: ignore[operator]
        if ok and maximum is not None:
            ok = value <= maximum  # type: ignore[operator]
        if minimum is not None and maximum is not None:
            bounds = f" in [{minimum}, {maximum}]"
        elif minimum is not None:
            bounds = f" >= {minimum}"
        else:
            bounds = "" if maximum is None else f" <= {maximum}"
        null = " or null" if optional else ""
        return self.check(ok, f"{name}: must be an integer{bounds}{null} (got {value!r})")

    def number(
        self, name: str, value: object, low: float | None = None, high: float | None = None, *, high_open: bool = False
    ) -> bool:
        """``value`` is a finite number (not a bool) >= low, and <= high (< high with ``high_open``) when given.

        With both bounds the message reads 'must be in [low, high]'; with ``low`` only 'must be a finite
        number >= low' (the wording of the weight tables). ``high`` needs ``low``.
        """
        ok = is_number(value)
        if ok and low is not None:
            ok = value >= low  # type: ignore[operator]
        if ok and high is not None:
            ok = value < high if high_open else value <= high  # type: ignore[operator]
        if low is not None and high is not None:
            what = f"in [{low:g}, {high:g}{')' if high_open else ']'}"
        else:
            what = "a finite number" + ("" if low is None else f" >= {low:g}")
        return self.check(ok, f"{name}: must be {what} (got {value!r})")

    def non_negative_table(
        self,
        name: str,
        table: object,
        *,
        known: Iterable[str] | None = None,
        what: str = "key",
        total: float | None = None,
        tolerance: float = 0.0,
    ) -> bool:
        """A ``key -> weight`` table: every value a finite number >= 0, every key in ``known`` (when given;
        an unknown one is named as an unknown ``what``), and the values summing to ``total`` within
        ``tolerance`` (when given; checked only when every entry is fine, so the sum means something)."""
        if not isinstance(table, Mapping):
            return self.check(False, f"{name}: must be a mapping of {what} -> weight (got {table!r})")
        before = len(self.items)
        allowed = None if known is None else tuple(known)
        for key, value in table.items():
            if allowed is not None:
                self.check(key in allowed, f"{name}.{key}: unknown {what} (known: {', '.join(allowed)})")
            self.number(f"{name}.{key}", value, 0)
        if total is not None and len(self.items) == before:
            got = sum(float(v) for v in table.values())
            self.check(
                abs(got - total) <= tolerance,
                f"{name}: weights must sum to {total:g} (got {got:.6g} from {dict(table)})",
            )
        return len(self.items) == before

    def literals(self, obj: object) -> bool:
        """Every ``Literal``-typed field of the dataclass ``obj`` holds one of its allowed values.

        This is the only place ``Literal`` fields are checked (loading from YAML and direct construction
        both pass through ``__post_init__``); code that needs the names uses ``typing.get_args`` of the type.
        """
        before = len(self.items)
        for name, (allowed, optional) in _literal_fields(type(obj)).items():
            value = getattr(obj, name)
            if optional and value is None:
                continue
            self.check(value in allowed, f"{name}: must be one of {', '.join(map(repr, allowed))} (got {value!r})")
        return len(self.items) == before

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """Init field name -> resolved type hint of a config dataclass (resolved once per class)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


@functools.cache
def _literal_fields(cls: type) -> dict[str, tuple[tuple[Any, ...], bool]]:
    """Field name -> (allowed values, may be None) for the ``Literal`` / ``Literal | None`` fields of ``cls``."""
    out = {}
    for name, tp in _field_types(cls).items():
        optional, inner = _is_optional(tp)
        if typing.get_origin(inner) is typing.Literal:
            out[name] = (typing.get_args(inner), optional)
    return out


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == len(typing.get_args(tp)) - 1 and len(args) == 1:
            return True, args[0]
    return False, tp


def _convert(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        problems.append(f"{path}: must not be empty (got null)")
        return None
    tp = inner
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _from_mapping(tp, value, path, problems)
    if origin is typing.Literal:
        return value  # checked once, by the class's __post_init__ (Problems.literals), like a direct constructor call
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: must be a mapping (got {type(value).__name__} {value!r})")
            return {}
        key_tp, val_tp = typing.get_args(tp) or (str, Any)
        return {
            _convert(key_tp, k, _join(path, k), problems): _convert(val_tp, v, _join(path, k), problems)
            for k, v in value.items()
        }
    if origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            problems.append(f"{path}: must be a list (got {type(value).__name__} {value!r})")
            return ()
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(_convert(item_tp, v, f"{path}[{i}]", problems) for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: must be true or false (got {value!r})")
        return value
    if tp is int:
        if not is_int(value):
            problems.append(f"{path}: must be an integer (got {value!r})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: must be a number (got {value!r})")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{path}: must be a string (got {value!r})")
        return value
    return value


def _from_mapping(cls: type[T], data: Any, path: str, problems: list[str]) -> T | None:
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        problems.append(f"{path or cls.__name__}: must be a mapping (got {type(data).__name__} {data!r})")
        return None
    hints = _field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            problems.append(f"{_join(path, key)}: unknown field (known: {', '.join(fields)})")
    kwargs = {}
    failed = False
    for name, f in fields.items():
        if name not in data:
            continue
        before = len(problems)
        value = _convert(hints[name], data[name], _join(path, name), problems)
        if len(problems) == before:
            kwargs[name] = value
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            failed = True  # leave the default in place so that this class's own checks still run below
        else:
            return None
    try:
        obj = cls(**kwargs)
    except ConfigError as err:
        problems.extend(_join(path, p) if path else p for p in err.problems)
        return None
    except (TypeError, ValueError) as err:
        problems.append(f"{path or cls.__name__}: {err}")
        return None
    return None if failed else obj


def from_dict(cls: type[T], data: Mapping[str, Any] | None, source: str | None = None) -> T:
    """Build ``cls`` from a plain mapping (e.g. parsed YAML); raise :class:`ConfigError` listing all problems."""
    problems: list[str] = []
    obj = _from_mapping(cls, data or {}, "", problems)
    if problems or obj is None:
        raise ConfigError(problems or [f"could not build {cls.__name__}"], source)
    return obj


def load_yaml(cls: type[T], path: str | Path | None) -> T:
    """Load ``cls`` from a YAML file of the same shape (``None``: the defaults)."""
    if path is None:
        return cls()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read config file ({err.strerror})"], str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError([f"not valid YAML ({err})"], str(path)) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError([f"the top level must be a mapping (got {type(data).__name__})"], str(path))
    return from_dict(cls, data, source=str(path))


def to_dict(obj: Any) -> Any:
    """Plain-Python (YAML/JSON-ready) view of a config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def config_leaves(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Every field of a config dataclass by dotted key (the keys of ``--set``), values as YAML sees them."""
    leaves: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            leaves.update(config_leaves(value, f"{prefix}{f.name}."))
        else:
            leaves[prefix + f.name] = to_dict(value)
    return leaves


def dump_yaml(obj: Any) -> str:
    """YAML text of a config dataclass, loadable back by :func:`load_yaml`."""
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)


# PyYAML reads YAML 1.1, where a float needs a dot: "1e-3" would stay the string '1e-3'
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``["optim.lr=0.05", "split.iqr_multiplier=.inf"]`` -> ``{"optim.lr": 0.05, ...}``: dotted key -> YAML value.

    ``KEY=null`` (or ``KEY=``) is None, which :func:`apply_overrides` applies with ``keep_none=True``; a
    later item wins over an earlier one with the same key. Raises :class:`ConfigError` (source ``--set``)
    listing every malformed item.
    """
    out: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"{item!r}: expected KEY=VALUE with a dotted KEY (e.g. optim.lr=0.05)")
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            reason = getattr(err, "problem", None) or "not valid YAML"
            problems.append(f"{item!r}: the value is not valid YAML ({reason})")
            continue
        if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
            value = float(value)
        out[key] = value
    if problems:
        raise ConfigError(problems, "--set")
    return out


def apply_overrides(
    obj: T, overrides: Mapping[str, Any], source: str = "command line", *, keep_none: bool = False
) -> T:
    """Copy of the config ``obj`` with dotted fields changed: ``{"optim.lr": 0.05, "split.eval_fraction": 0.1}``.

    ``None`` values are ignored (a CLI flag that was not given) unless ``keep_none`` (``--set KEY=null``).
    A key below a table field names one entry (``score.weights.task_type``); a mapping given for a whole
    section sets the fields it names and keeps the others. The result is rebuilt through
    :func:`from_dict`, so every problem (an unknown key, naming the fields known at its level; a bad
    value, with its dotted name and value) is raised at once in one :class:`ConfigError` from ``source``.
    """
    changes = {k: v for k, v in overrides.items() if keep_none or v is not None}
    if not changes:
        return obj
    cls = type(obj)
    data = to_dict(obj)
    problems: list[str] = []
    for dotted, value in changes.items():
        _place(cls, data, dotted.split("."), to_dict(value), "", problems)
    try:  # rebuilt even after an unknown key, so that the bad values are reported with it
        result = from_dict(cls, data, source=source)
    except ConfigError as err:
        problems.extend(err.problems)
    if problems:
        raise ConfigError(problems, source)
    return result


def _place(cls: type, data: dict[str, Any], parts: list[str], value: Any, path: str, problems: list[str]) -> None:
    """Put ``value`` at the dotted ``parts`` (fields of the dataclass ``cls``) inside ``data``, its plain view."""
    key, rest = parts[0], parts[1:]
    here = _join(path, key)
    types_ = _field_types(cls)
    if key not in types_:
        problems.append(f"{here}: unknown field (known: {', '.join(types_)})")
        return
    tp = _is_optional(types_[key])[1]
    if dataclasses.is_dataclass(tp) and (rest or isinstance(value, Mapping)):
        if not isinstance(data.get(key), dict):
            data[key] = {}  # an optional section that was null
        items = [(rest, value)] if rest else [([str(k)], v) for k, v in value.items()]
        for sub_parts, sub_value in items:
            _place(tp, data[key], sub_parts, sub_value, here, problems)  # type: ignore[arg-type]
    elif not rest:
        data[key] = value
    elif typing.get_origin(tp) in (dict, Mapping) or tp is dict:
        if not isinstance(data.get(key), dict):
            data[key] = {}  # an optional table that was null
        data[key][".".join(rest)] = value  # table keys may hold dots; everything after the field is the key
    else:
        problems.append(f"{_join(here, '.'.join(rest))}: unknown field ({here} is a single value, not a section)")
