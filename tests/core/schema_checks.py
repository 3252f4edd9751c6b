"""Shared checks of result-section dataclasses against the committed JSON Schema."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any

import jsonschema

from harness.core.schema import load_result_schema


def result_validator() -> jsonschema.Draft202012Validator:
    """A validator for the whole ``result.json`` schema."""
    return jsonschema.Draft202012Validator(load_result_schema())


def dataclass_names(module: types.ModuleType) -> list[str]:
    """The names in ``module.__all__`` that are dataclasses (constants left out)."""
    return [name for name in module.__all__ if dataclasses.is_dataclass(getattr(module, name))]


def _nested_dataclass(hint: Any) -> type | None:
    """The dataclass a field holds: itself, ``X | None``, ``tuple[X, ...]`` or ``dict[str, X]``."""
    if dataclasses.is_dataclass(hint):
        return typing.cast(type, hint)
    args = [arg for arg in typing.get_args(hint) if arg is not type(None) and arg is not Ellipsis]
    return _nested_dataclass(args[-1]) if args else None


def _refs(schema: Any) -> set[str]:
    """Every ``$ref`` anywhere inside a property's schema."""
    if isinstance(schema, dict):
        found = {schema["$ref"]} if "$ref" in schema else set()
        return found.union(*(_refs(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_refs(value) for value in schema))
    return set()


def assert_closed_def(defs: dict[str, Any], name: str, cls: type) -> None:
    """``defs[name]``, the ``$def`` of dataclass ``cls``, lists exactly its fields, requires
    them all (it may leave out fields that have a default), allows nothing else, spells its
    Literal (and ``Literal | None``) fields as enums, and points each field that holds a
    dataclass at that dataclass's own ``$def``."""
    fields = [f.name for f in dataclasses.fields(cls)]
    schema = defs[name]
    assert schema["additionalProperties"] is False, name
    # A field added after results were written may be optional, if the dataclass gives it a
    # default (older results then still validate, and read with that default).
    optional = set(fields) - set(schema["required"])
    assert optional <= _defaulted(cls), (name, sorted(optional))
    assert set(schema["required"]) <= set(fields), name
    assert sorted(schema["properties"]) == sorted(fields), name
    for field, hint in typing.get_type_hints(cls).items():
        prop = schema["properties"][field]
        args = typing.get_args(hint)
        if typing.get_origin(hint) is typing.Literal:
            assert prop["enum"] == list(args), (name, field)
        elif type(None) in args and typing.get_origin(args[0]) is typing.Literal:
            assert prop["enum"] == [*typing.get_args(args[0]), None], (name, field)
        nested = _nested_dataclass(hint)
        if nested is not None:
            assert f"#/$defs/{nested.__name__}" in _refs(prop), (name, field)


def _defaulted(cls: type) -> set[str]:
    """The fields of dataclass ``cls`` that have a default."""
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }


def assert_closed_defs(module: types.ModuleType, names: Iterable[str] | None = None) -> None:
    """``assert_closed_def`` for each named dataclass of ``module`` (all of ``__all__``
    unless told), each looked up as the ``$def`` of the same name."""
    defs = load_result_schema()["$defs"]
    for name in module.__all__ if names is None else names:
        assert_closed_def(defs, name, getattr(module, name))


def assert_result_points_at_def(data: dict[str, Any], key: str, def_name: str) -> None:
    """The result's ``key`` property is a ``$ref`` to ``def_name``, and ``data[key]`` (a
    serialised result's section) has exactly the keys that def requires."""
    schema = load_result_schema()
    assert schema["properties"][key] == {"$ref": f"#/$defs/{def_name}"}
    defined = schema["$defs"][def_name]
    # Every property written; those added later with a default are not required.
    assert sorted(data[key]) == sorted(defined["properties"])
    assert set(defined["required"]) <= set(data[key])


def set_path(data: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``data[path[0]][path[1]]...[path[-1]] = value`` in place."""
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value
