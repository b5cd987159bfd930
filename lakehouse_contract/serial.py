"""Strict JSON (de)serialisation of frozen dataclasses: unknown or missing keys are errors.

Stdlib only, so a job imports it in milliseconds. Supported field types: ``str``, ``int``,
``float``, ``bool``, ``X | None``, ``Literal[...]``, ``tuple[X, ...]``, ``dict[str, X]`` and
nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class SpecError(ValueError):
    """A spec document does not match its type (the message names the field)."""


def to_data(obj: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists (recursively)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_data(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    return obj


def to_json(obj: Any) -> str:
    """Compact JSON (it travels as one command-line argument)."""
    return json.dumps(to_data(obj), separators=(",", ":"), sort_keys=False)


def from_data(cls: type[T], data: Any, where: str = "spec") -> T:
    """An instance of dataclass ``cls`` from parsed JSON, checked field by field."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {unknown}")
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(f"{where}.{name}: missing")
            continue
        values[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**values)


def _convert(tp: Any, value: Any, where: str) -> Any:  # noqa: C901 - one branch per type form
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, where)
            except SpecError as exc:
                errors.append(str(exc))
        raise SpecError("; ".join(errors))
    if origin is typing.Literal:
        if value not in args:
            raise SpecError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise SpecError(f"{where}: expected a list")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(f"{where}: expected an object")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_data(tp, value, where)  # type: ignore[arg-type]
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, bool) and type(value) is tp:
        return value
    if tp is typing.Any:
        return value
    raise SpecError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__} {value!r}")
