"""Registration through onnx2torch's own converter registry, tolerant of onnx2torch upgrades.

onnx2torch resolves a node's converter by the op's *since-version* at the model's opset
(``get_converter`` maps opset 17 to ``Pad``-13, opset 18 to ``Pad``-18), and its
``add_converter`` raises when a (domain, op, version) key is taken. ``register_missing``
registers only the keys still free, so a newer onnx2torch that adds one of them wins and the
import does not crash; ``lookup`` fetches a converter onnx2torch already has, so a newer
version whose semantics did not change can reuse it through the registry.

``HARNESS_ADDED`` records every key this package registered, with the module that did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from onnx2torch.node_converters.registry import (
    _CONVERTER_REGISTRY,
    OperationDescription,
    add_converter,
)

__all__ = ["HARNESS_ADDED", "is_registered", "lookup", "register_missing"]

Converter = Callable[[Any, Any], Any]  # (OnnxNode, OnnxGraph) -> OperationConverterResult

# (domain, op, version) -> "module.function" that this package registered for it.
HARNESS_ADDED: dict[tuple[str, str, int], str] = {}


def _key(op_type: str, version: int, domain: str) -> OperationDescription:
    return OperationDescription(domain=domain, operation_type=op_type, version=version)


def is_registered(op_type: str, version: int, domain: str = "") -> bool:
    """Whether onnx2torch (or this package) has a converter for exactly this since-version."""
    return _key(op_type, version, domain) in _CONVERTER_REGISTRY


def lookup(op_type: str, version: int, domain: str = "") -> Converter:
    """The converter registered for exactly ``op_type``-``version``; KeyError if none."""
    converter: Converter = _CONVERTER_REGISTRY[_key(op_type, version, domain)]
    return converter


def register_missing(
    op_type: str, versions: Iterable[int], domain: str = ""
) -> Callable[[Converter], Converter]:
    """Decorator: register the function for each of ``versions`` that has no converter yet.

    Versions already present (onnx2torch's own, or registered by an earlier import) are left
    alone, so importing a converter module twice, or upgrading onnx2torch, is harmless.
    """
    wanted = tuple(versions)

    def deco(converter: Converter) -> Converter:
        for version in wanted:
            if is_registered(op_type, version, domain):
                continue
            add_converter(operation_type=op_type, version=version, domain=domain)(converter)
            HARNESS_ADDED[(domain, op_type, version)] = (
                f"{converter.__module__}.{converter.__qualname__}"
            )
        return converter

    return deco
