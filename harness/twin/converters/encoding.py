"""OneHot (versions 9 and 11; onnx2torch has none): the one-hot embeddings of Keras and
tf2onnx exports and of ``F.one_hot`` through the TorchScript exporter.

ONNX semantics: ``depth`` is a scalar or one-element tensor, ``values`` is [off, on] and
gives the output's type; indices are cast to integers, a negative one counts from the end
(``-1`` is ``depth - 1``), and one outside [-depth, depth) makes an all-off row. The new
axis goes where ``axis`` says (default -1, last) in the output.
"""

from __future__ import annotations

from typing import Any

import torch
from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
from torch import nn

from harness.twin.converters._registry import register_missing

__all__ = ["OneHot"]


class OneHot(nn.Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(
        self, indices: torch.Tensor, depth: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        size = int(depth.reshape(-1)[0])
        index = indices.to(torch.int64)
        index = torch.where(index < 0, index + size, index)
        inside = (index >= 0) & (index < size)
        hot = nn.functional.one_hot(index.clamp(0, size - 1), size).bool()
        hot = hot & inside.unsqueeze(-1)
        flat = values.reshape(-1)
        out = torch.where(hot, flat[1], flat[0])
        axis = self.axis + out.dim() if self.axis < 0 else self.axis
        return out.movedim(-1, axis)


@register_missing("OneHot", (9, 11))
def convert_one_hot(node: Any, graph: Any) -> Any:
    del graph
    module = OneHot(axis=node.attributes.get("axis", -1))
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))
