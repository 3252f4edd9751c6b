"""Frozen dataclasses to JSON-ready values and back, driven by their type hints.

One generic pair instead of a hand-written ``to_dict``/``from_dict`` per class, so a new
result field is serialised the moment it is declared. Supported hints: dataclasses,
``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]``, unions (``X | None``), ``Literal``,
``Path``, ``Any`` and the JSON scalars.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from harness.core.schema.validate import describe, json_path

__all__ = ["from_jsonable", "to_jsonable"]

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    """A dataclass tree as plain dicts, lists and scalars (field order kept)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def from_jsonable(hint: Any, data: Any) -> Any:
    """Rebuild a value of type ``hint`` from what :func:`to_jsonable` produced.

    Raises ``TypeError`` or ``ValueError`` naming the offending path when ``data`` does
    not fit ``hint``; callers map that to their own error.
    """
    return _convert(hint, data, "$")


def _convert(hint: Any, data: Any, where: str) -> Any:
    if hint is Any:
        return data
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return _convert_union(hint, data, where)
    if origin is Literal:
        if data not in typing.get_args(hint):
            raise ValueError(f"{where}: {describe(data)} is not one of {typing.get_args(hint)}")
        return data
    if origin is tuple:
        return _convert_tuple(hint, data, where)
    if origin is dict:
        _, value_hint = typing.get_args(hint)
        _expect(data, dict, where)
        return {k: _convert(value_hint, v, json_path(where, k)) for k, v in data.items()}
    if dataclasses.is_dataclass(hint):
        return _convert_dataclass(hint, data, where)
    return _convert_scalar(hint, data, where)


def _convert_union(hint: Any, data: Any, where: str) -> Any:
    arms = typing.get_args(hint)
    if data is None:
        if type(None) in arms:
            return None
        raise ValueError(f"{where}: null is not allowed")
    errors = []
    for arm in arms:
        if arm is type(None):
            continue
        try:
            return _convert(arm, data, where)
        except (TypeError, ValueError) as exc:
            errors.append(str(exc))
    raise ValueError(f"{where}: {describe(data)} fits none of {hint} ({'; '.join(errors)})")


def _convert_tuple(hint: Any, data: Any, where: str) -> tuple[Any, ...]:
    _expect(data, list, where)
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(args[0], v, json_path(where, i)) for i, v in enumerate(data))
    if len(args) != len(data):
        raise ValueError(f"{where}: expected {len(args)} items, got {len(data)}")
    return tuple(
        _convert(a, v, json_path(where, i)) for i, (a, v) in enumerate(zip(args, data, strict=True))
    )


def _convert_dataclass(cls: Any, data: Any, where: str) -> Any:
    _expect(data, dict, where)
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        # ascii() and a cut: a hostile name prints as one short line.
        shown = ascii([name[:40] for name in unknown[:5]])
        raise ValueError(f"{where}: unknown field(s) {shown} for {cls.__name__}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], json_path(where, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where}: missing field '{name}' of {cls.__name__}")
    return cls(**kwargs)


def _convert_scalar(hint: Any, data: Any, where: str) -> Any:
    if hint is Path:
        _expect(data, str, where)
        return Path(data)
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        try:
            return float(data)
        except OverflowError:
            raise ValueError(f"{where}: an integer too large for a float") from None
    if hint in (int, float) and isinstance(data, bool):
        raise TypeError(f"{where}: expected {hint.__name__}, got bool")
    if hint is type(None):
        if data is not None:
            raise TypeError(f"{where}: expected null")
        return None
    _expect(data, hint, where)
    return data


def _expect(data: Any, kind: type, where: str) -> None:
    if not isinstance(data, kind):
        raise TypeError(f"{where}: expected {kind.__name__}, got {type(data).__name__}")


@cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
