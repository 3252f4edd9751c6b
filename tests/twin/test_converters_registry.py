"""The converter package registers through onnx2torch's registry idempotently, and every
alias and added converter is reachable the way onnx2torch looks converters up."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, get_converter

from harness.twin import converters
from harness.twin.converters import register_all
from harness.twin.converters._registry import (
    HARNESS_ADDED,
    is_registered,
    lookup,
    register_missing,
)
from harness.twin.converters.aliases import NEWER_VERSION_ALIASES


def test_register_all_returns_the_module_names() -> None:
    names = register_all()
    assert names == tuple(sorted(m.name for m in pkgutil.iter_modules(converters.__path__)))
    assert {"aliases", "recurrent", "control_flow", "pad", "reduce"} <= set(names)
    assert register_all() is names  # cached: the second call imports nothing


def test_importing_the_modules_twice_is_harmless() -> None:
    register_all()
    before = dict(_CONVERTER_REGISTRY)
    for name in register_all():
        if name != "_registry":  # reloading it would empty HARNESS_ADDED for everyone
            importlib.reload(importlib.import_module(f"harness.twin.converters.{name}"))
    assert dict(_CONVERTER_REGISTRY) == before  # nothing re-registered, nothing replaced


def test_register_missing_leaves_onnx2torchs_own_versions_alone() -> None:
    original = get_converter("Relu", 14)

    @register_missing("Relu", (14,))
    def _never(node: object, graph: object) -> object:
        raise AssertionError("must not be registered")

    assert get_converter("Relu", 14) is original


@pytest.mark.parametrize(
    ("op_type", "version"),
    [(a.op_type, v) for a in NEWER_VERSION_ALIASES for v in a.versions],
)
def test_every_alias_is_registered_after_register_all(op_type: str, version: int) -> None:
    register_all()
    assert is_registered(op_type, version)
    assert get_converter(op_type, version) is not None  # found the way convert() looks


def test_added_converters_are_what_the_model_opset_resolves_to() -> None:
    register_all()
    assert HARNESS_ADDED
    for domain, op_type, version in HARNESS_ADDED:
        assert get_converter(op_type, version, domain) is lookup(op_type, version, domain)
    # an opset-18 model's ReduceMean resolves to the since-version 18 this package adds
    assert get_converter("ReduceMean", 18).__module__ == "harness.twin.converters.reduce"


def test_the_families_the_issue_names_are_registered() -> None:
    register_all()
    for op_type, version in [
        ("GreaterOrEqual", 16), ("LessOrEqual", 16), ("Gelu", 20), ("GlobalMaxPool", 1),
        ("Reshape", 19), ("Flatten", 21), ("Pad", 18), ("Pad", 19), ("Split", 18),
        ("LSTM", 7), ("LSTM", 14), ("GRU", 7), ("GRU", 14), ("If", 16), ("Size", 13),
    ]:  # fmt: skip
        assert is_registered(op_type, version), f"{op_type}-{version}"
