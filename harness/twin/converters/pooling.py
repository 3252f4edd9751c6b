"""GlobalMaxPool (1, 22): the maximum over every spatial axis, kept as size-1 axes."""

from __future__ import annotations

from typing import Any

import torch
from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
from torch import nn

from harness.twin.converters._registry import register_missing

__all__ = ["GlobalMaxPool"]


class GlobalMaxPool(nn.Module):
    """(N, C, d1, ..., dk) -> (N, C, 1, ..., 1); gradients go to the maxima (split on ties)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(x, dim=tuple(range(2, x.dim())), keepdim=True)


@register_missing("GlobalMaxPool", (1, 22))  # 22 only adds bfloat16
def convert_global_max_pool(node: Any, graph: Any) -> Any:
    del graph
    return OperationConverterResult(
        torch_module=GlobalMaxPool(), onnx_mapping=onnx_mapping_from_node(node)
    )
