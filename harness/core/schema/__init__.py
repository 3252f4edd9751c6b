"""The committed JSON Schema of ``result.json`` (draft 2020-12), shipped as package data.

Reading it needs only the standard library; validating against it needs ``jsonschema``,
which is a development dependency (the tests use it, the harness does not).
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

__all__ = ["RESULT_SCHEMA_PATH", "load_result_schema"]

# Traversable rather than Path: the package may be installed inside a zip.
RESULT_SCHEMA_PATH: Traversable = resources.files(__name__) / "result.schema.json"


def load_result_schema() -> dict[str, Any]:
    """The result schema as a dict, read afresh on each call (callers may mutate it)."""
    schema: dict[str, Any] = json.loads(RESULT_SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema
