"""Frozen-dataclass configs <-> plain dicts / YAML, reporting every problem at once.

A config class is a frozen dataclass whose fields are scalars, tuples, ``dict[str, X]`` or nested
config dataclasses. YAML files have exactly the dataclass shape; unknown keys are errors (a typo must
not silently fall back to a default). ``__post_init__`` methods collect their problems with
:class:`Problems` and raise them together.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
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


class Problems:
    """Collects validation problems so that ``__post_init__`` can report all of them at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.items.append(message)

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


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
        allowed = typing.get_args(tp)
        if value not in allowed:
            problems.append(f"{path}: must be one of {', '.join(map(repr, allowed))} (got {value!r})")
        return value
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
        if isinstance(value, bool) or not isinstance(value, int):
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
    hints = typing.get_type_hints(cls)
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


def dump_yaml(obj: Any) -> str:
    """YAML text of a config dataclass, loadable back by :func:`load_yaml`."""
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)


def override(obj: T, **changes: Any) -> T:
    """Copy of ``obj`` with ``changes`` applied (``None`` values are ignored, e.g. unset CLI flags)."""
    data = to_dict(obj)
    data.update({k: v for k, v in changes.items() if v is not None})
    return from_dict(type(obj), data)
