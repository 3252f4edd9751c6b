"""Gelu (opset 20): ``approximate`` is "none" (erf) or "tanh", as in ``torch.nn.GELU``."""

from __future__ import annotations

from typing import Any

from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
from torch import nn

from harness.twin.converters._registry import register_missing

__all__: list[str] = []

_APPROXIMATIONS = ("none", "tanh")


@register_missing("Gelu", (20,))
def convert_gelu(node: Any, graph: Any) -> Any:
    del graph
    approximate = node.attributes.get("approximate", "none")
    if approximate not in _APPROXIMATIONS:
        raise NotImplementedError(
            f"Gelu node {node.name!r}: approximate={approximate!r}; "
            f"expected one of {_APPROXIMATIONS}"
        )
    return OperationConverterResult(
        torch_module=nn.GELU(approximate=approximate),
        onnx_mapping=onnx_mapping_from_node(node),
    )
