"""Check parsed JSON against the committed result schema, in plain Python.

``jsonschema`` is a development dependency, so the reader cannot use it; this walker
understands the keywords ``result.schema.json`` uses (``SUPPORTED_KEYWORDS``) and nothing
else, so the schema stays the single statement of what a valid result is. On top of the
keywords it holds every value to what the harness can have written: numbers are finite,
integers fit in 64 bits, strings are valid Unicode (no lone surrogate from a ``\\ud800``
escape). The first violation is raised as ``SchemaViolation`` naming its JSON path
(``$.efficiency.runs[0].latency.samples_ms[3]``).

``required`` is left to ``harness.core.serialize.from_jsonable``, which knows the fields
that have defaults (results written before a field existed still read).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "SUPPORTED_KEYWORDS",
    "SchemaViolation",
    "describe",
    "json_path",
    "unsupported_keywords",
    "validate",
]

# Keywords that constrain a value, each checked below.
_CHECKED = (
    "$ref", "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "pattern", "minLength", "maxLength", "items", "minItems", "maxItems",
    "uniqueItems", "properties", "additionalProperties", "anyOf",
)  # fmt: skip
# Keywords that only annotate, or that another layer checks (``required``: see above;
# ``format``: the harness writes what it reads and nothing depends on it).
_IGNORED = (
    "$schema", "$defs", "$comment", "title", "description", "examples", "default",
    "deprecated", "readOnly", "writeOnly", "format", "required",
)  # fmt: skip
SUPPORTED_KEYWORDS: frozenset[str] = frozenset(_CHECKED + _IGNORED)
_PLAIN_NUMBER_KEYWORDS = frozenset(("type", "minimum", "maximum", "description"))
_CONTAINER_KEYWORDS = frozenset(
    ("items", "minItems", "maxItems", "uniqueItems", "properties", "additionalProperties")
)

# Bounds no value the harness writes comes near; beyond them a number is hostile, and
# int64 is what any other reader of result.json (numpy, a database) can hold.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_KEY_SHOWN = 40  # characters of an object key shown in a path
_VALUE_SHOWN = 60  # characters of a value's repr shown in a message
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class SchemaViolation(ValueError):
    """A value that breaks the schema or a bound; ``path`` is where, ``str`` says what."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} {problem}")
        self.path = path
        self.problem = problem


def validate(data: Any, schema: Mapping[str, Any]) -> None:
    """Raise ``SchemaViolation`` at the first value of DATA that SCHEMA (a whole schema
    document, whose ``$ref``s point into its own ``$defs``) does not allow."""
    unknown = unsupported_keywords(schema)
    if unknown:
        # A schema the walker cannot read is a bug in the harness, not a bad file.
        raise NotImplementedError(f"schema keyword(s) {sorted(unknown)} are not checked")
    _Walker(schema).check(data, schema, "$")


def unsupported_keywords(schema: Any) -> set[str]:
    """Keywords anywhere in SCHEMA that ``validate`` does not understand (a test keeps
    this empty, so a keyword added to the schema is never silently ignored)."""
    found: set[str] = set()
    for node in _schema_nodes(schema):
        found |= set(node) - SUPPORTED_KEYWORDS
    return found


def json_path(parent: str, key: str | int) -> str:
    """PARENT's child KEY as a JSON path step: ``$.a.b``, ``$.a[3]``, ``$.a["x y"]``;
    a hostile key is cut and escaped, so the path always prints as one short line."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _PLAIN_KEY.fullmatch(key) and len(key) <= _KEY_SHOWN:
        return f"{parent}.{key}"
    shown = key if len(key) <= _KEY_SHOWN else key[:_KEY_SHOWN] + "..."
    return f"{parent}[{json.dumps(shown)}]"  # ensure_ascii: control chars, surrogates escaped


def describe(value: Any) -> str:
    """VALUE for a message: its repr, ASCII-escaped and cut to a readable length."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'} of {len(value)}"
    text = ascii(value)
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 3] + "..."


class _Walker:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {})

    def check(self, value: Any, node: Mapping[str, Any], path: str) -> None:
        _check_scalar(value, path)
        if "$ref" in node:
            self.check(value, self._resolve(node["$ref"]), path)
        if "anyOf" in node:
            self._any_of(value, node["anyOf"], path)
        _check_type(value, node, path)
        _check_value(value, node, path)
        if ("$ref" in node or "anyOf" in node) and not set(node) & _CONTAINER_KEYWORDS:
            return  # the subschema walked the contents already
        if isinstance(value, list):
            self._array(value, node, path)
        elif isinstance(value, dict):
            self._object(value, node, path)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix) :] not in self.defs:
            raise NotImplementedError(f"schema $ref {ref!r} does not point into $defs")
        target: Mapping[str, Any] = self.defs[ref[len(prefix) :]]
        return target

    def _any_of(self, value: Any, options: list[Mapping[str, Any]], path: str) -> None:
        failures = []
        for option in options:
            try:
                self.check(value, option, path)
                return
            except SchemaViolation as exc:
                failures.append(exc)
        # The deepest failure is the informative one: for {X | null} given a broken X it
        # names the broken field inside X, not "is not null".
        raise max(failures, key=lambda exc: len(exc.path))

    def _plain_number_bounds(self, node: Mapping[str, Any]) -> tuple[float, float] | None:
        """(low, high) when NODE asks only for a number between bounds, as the long arrays
        (latency samples, attributions, attention maps) do; else None."""
        while set(node) == {"$ref"}:
            node = self._resolve(node["$ref"])
        if node.get("type") != "number" or set(node) - _PLAIN_NUMBER_KEYWORDS:
            return None
        # The largest finite floats as defaults: NaN and the infinities fail either way.
        low, high = (
            node.get("minimum", -sys.float_info.max),
            node.get("maximum", sys.float_info.max),
        )
        return float(low), float(high)

    def _array(self, value: list[Any], node: Mapping[str, Any], path: str) -> None:
        if len(value) < node.get("minItems", 0):
            raise SchemaViolation(path, f"holds {len(value)} items, fewer than {node['minItems']}")
        if "maxItems" in node and len(value) > node["maxItems"]:
            raise SchemaViolation(path, f"holds {len(value)} items, more than {node['maxItems']}")
        self._items(value, node.get("items"), path)
        if node.get("uniqueItems"):
            _check_unique(value, path)

    def _items(self, value: list[Any], items: Mapping[str, Any] | None, path: str) -> None:
        bounds = self._plain_number_bounds(items) if items is not None else None
        if bounds is not None and all(
            type(v) is float and bounds[0] <= v <= bounds[1] for v in value
        ):
            return  # the fast path of the long arrays; anything else is walked for its message
        for index, item in enumerate(value):
            item_path = json_path(path, index)
            if items is None:
                _check_tree(item, item_path)
            else:
                self.check(item, items, item_path)

    def _object(self, value: dict[str, Any], node: Mapping[str, Any], path: str) -> None:
        properties: Mapping[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            item_path = json_path(path, key)
            _check_string(key, item_path, "name")
            if key in properties:
                self.check(item, properties[key], item_path)
            elif extra is False:
                raise SchemaViolation(item_path, "is not a field of this object")
            elif extra is True:
                _check_tree(item, item_path)
            else:
                self.check(item, extra, item_path)


def _check_unique(value: list[Any], path: str) -> None:
    seen: set[Any] = set()
    for index, item in enumerate(value):
        # Containers by their JSON text (the schema's unique arrays hold strings, checked
        # before this runs, so nothing deep is dumped); true is not 1 in JSON, 1 is 1.0.
        container = isinstance(item, dict | list)
        key = json.dumps(item, sort_keys=True) if container else (isinstance(item, bool), item)
        if key in seen:
            raise SchemaViolation(json_path(path, index), "repeats an earlier item")
        seen.add(key)


def _check_type(value: Any, node: Mapping[str, Any], path: str) -> None:
    if "type" not in node:
        return
    names = node["type"] if isinstance(node["type"], list) else [node["type"]]
    if not any(_is_json_type(value, name) for name in names):
        raise SchemaViolation(path, f"is {describe(value)}; expected {' or '.join(names)}")


def _is_json_type(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return name == "boolean"
    if name == "integer" and isinstance(value, float):
        return value.is_integer()  # JSON Schema: 2.0 is an integer
    return isinstance(value, _JSON_TYPES[name])


def _check_value(value: Any, node: Mapping[str, Any], path: str) -> None:
    if "enum" in node and not any(_same(value, option) for option in node["enum"]):
        allowed = ", ".join(json.dumps(option) for option in node["enum"])
        raise SchemaViolation(path, f"is {describe(value)}; allowed: {allowed}")
    if "const" in node and not _same(value, node["const"]):
        raise SchemaViolation(path, f"is {describe(value)}; expected {json.dumps(node['const'])}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(value, node, path)
    if isinstance(value, str):
        _check_text(value, node, path)


def _check_text(value: str, node: Mapping[str, Any], path: str) -> None:
    if "pattern" in node and not re.search(node["pattern"], value):
        raise SchemaViolation(path, f"is {describe(value)}; expected the form {node['pattern']}")
    if len(value) < node.get("minLength", 0):
        raise SchemaViolation(path, f"is shorter than {node['minLength']} characters")
    if "maxLength" in node and len(value) > node["maxLength"]:
        raise SchemaViolation(path, f"is longer than {node['maxLength']} characters")


def _same(value: Any, option: Any) -> bool:
    # JSON equality: true is not 1, and 1 is 1.0.
    return isinstance(value, bool) == isinstance(option, bool) and value == option


def _check_bounds(value: float, node: Mapping[str, Any], path: str) -> None:
    shown = describe(value)
    if "minimum" in node and value < node["minimum"]:
        raise SchemaViolation(path, f"is {shown}, below the minimum {node['minimum']}")
    if "maximum" in node and value > node["maximum"]:
        raise SchemaViolation(path, f"is {shown}, above the maximum {node['maximum']}")
    if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
        raise SchemaViolation(path, f"is {shown}; it must be above {node['exclusiveMinimum']}")
    if "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]:
        raise SchemaViolation(path, f"is {shown}; it must be below {node['exclusiveMaximum']}")


def _check_scalar(value: Any, path: str) -> None:
    """What holds for every value wherever it is, whatever the schema says."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaViolation(path, f"is {value}, not a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
        raise SchemaViolation(path, "is an integer beyond 64 bits")
    if isinstance(value, str):
        _check_string(value, path, "text")


def _check_string(text: str, path: str, what: str) -> None:
    """TEXT (a value, or an object's key: WHAT says which) must be encodable: a lone
    surrogate (a \\ud800 escape) is not a character and breaks every writer downstream."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise SchemaViolation(
            path, f"holds a lone surrogate (\\u{code:04x}) in its {what}, which is not Unicode"
        ) from None


def _check_tree(value: Any, path: str) -> None:
    """The scalar checks on every value under VALUE, where the schema says nothing more;
    iterative, so no nesting depth can exhaust the stack."""
    pending = [(value, path)]
    while pending:
        item, where = pending.pop()
        _check_scalar(item, where)
        if isinstance(item, list):
            pending.extend((child, json_path(where, i)) for i, child in enumerate(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(key, json_path(where, key), "name")
                pending.append((child, json_path(where, key)))


def _schema_nodes(schema: Any) -> Iterator[Mapping[str, Any]]:
    """Every subschema of SCHEMA (not the names under properties or $defs)."""
    if not isinstance(schema, Mapping):
        return
    yield schema
    for key, child in schema.items():
        if key in ("properties", "$defs"):
            for sub in child.values():
                yield from _schema_nodes(sub)
        elif key in ("items", "additionalProperties"):
            yield from _schema_nodes(child)
        elif key == "anyOf":
            for sub in child:
                yield from _schema_nodes(sub)
