"""Shape ops whose newer versions onnx2torch lacks or gets wrong.

- Reshape-19+ with ``allowzero=1`` (a 0 in ``shape`` is a real zero-size axis, not "copy
  this axis"); ``allowzero=0`` reuses onnx2torch's Reshape-14 converter through the
  registry. onnx2torch's own Reshape-14 raises on ``allowzero=1`` and cannot be replaced.
- Flatten-21+ for every axis and rank: onnx2torch's Flatten-9/11/13 fails on 1-D input and
  on ``axis=0`` (it returns 1-D where ONNX gives (1, N)); those versions are taken.
- Split-18: ``num_outputs`` (uneven splits: the last chunk is smaller) or the ``split`` input.
- Size (every version; onnx2torch has none): the element count as an int64 scalar.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
from torch import nn

from harness.twin.converters._registry import lookup, register_missing

__all__ = ["Flatten", "ReshapeAllowZero", "Size", "Split18"]

# Since-versions after the last one onnx2torch registers; each only widens the types.
_RESHAPE_VERSIONS = (19, 21, 23, 24, 25)
_FLATTEN_VERSIONS = (21, 23, 24, 25)
_SIZE_VERSIONS = (1, 13, 19, 21, 23, 24, 25)


class ReshapeAllowZero(nn.Module):
    """Reshape where 0 means a zero-size axis and -1 is inferred (ONNX ``allowzero=1``)."""

    def forward(self, data: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        return torch.reshape(data, [int(d) for d in shape.tolist()])


class Flatten(nn.Module):
    """To 2-D: (prod(shape[:axis]), prod(shape[axis:])), for any rank >= 1 and axis in
    [-rank, rank]; a 1-D input of n gives (1, n) for axis 0 and (n, 1) for axis 1."""

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis + x.dim() if self.axis < 0 else self.axis
        return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


class Split18(nn.Module):
    """Split along ``axis`` by the ``split`` sizes, or into ``num_outputs`` chunks of
    ceil(n / num_outputs) with a smaller last one."""

    def __init__(self, axis: int, num_outputs: int, single_output: bool) -> None:
        super().__init__()
        self.axis = axis
        self.num_outputs = num_outputs
        self.single_output = single_output

    def forward(
        self, data: torch.Tensor, split: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if split is not None:
            sizes = [int(s) for s in split.tolist()]
        else:
            length = data.shape[self.axis]
            chunk = math.ceil(length / self.num_outputs)
            sizes = [chunk] * (self.num_outputs - 1) + [length - chunk * (self.num_outputs - 1)]
        parts = torch.split(data, sizes, dim=self.axis)
        # onnx2torch indexes a node's outputs only when it has more than one.
        return parts[0] if self.single_output else tuple(parts)


class Size(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


def _result(module: nn.Module, node: Any) -> Any:
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))


@register_missing("Reshape", _RESHAPE_VERSIONS)
def convert_reshape(node: Any, graph: Any) -> Any:
    if node.attributes.get("allowzero", 0) == 0:
        return lookup("Reshape", 14)(node, graph)
    return _result(ReshapeAllowZero(), node)


@register_missing("Flatten", _FLATTEN_VERSIONS)
def convert_flatten(node: Any, graph: Any) -> Any:
    del graph
    return _result(Flatten(axis=node.attributes.get("axis", 1)), node)


@register_missing("Split", (18,))
def convert_split(node: Any, graph: Any) -> Any:
    del graph
    n_outputs = len(node.output_values)
    num_outputs = node.attributes.get("num_outputs", n_outputs)
    if num_outputs != n_outputs:
        raise NotImplementedError(
            f"Split node {node.name!r}: num_outputs={num_outputs} but the node has "
            f"{n_outputs} outputs; they must agree"
        )
    module = Split18(
        axis=node.attributes.get("axis", 0), num_outputs=num_outputs, single_output=n_outputs == 1
    )
    return _result(module, node)


@register_missing("Size", _SIZE_VERSIONS)
def convert_size(node: Any, graph: Any) -> Any:
    del graph
    return _result(Size(), node)
