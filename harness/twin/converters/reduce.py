"""Reduce*-18 (and ReduceMax/ReduceMin-20): ``axes`` became an optional input.

onnx2torch has these ops up to 13, where ``axes`` is an attribute; from opset 18 on (the
dynamo exporter's default) every ReduceMean of a LayerNorm decomposition asks for
ReduceMean-18. ReduceSum took ``axes`` as an input at 13 already and is not here. Semantics:
absent or empty ``axes`` reduces every axis, unless ``noop_with_empty_axes=1``: then the
reduction runs over no axis, so plain reductions return the input and composite ones keep
their elementwise steps (ReduceLogSum gives log x, ReduceSumSquare x², ReduceL1/L2 |x|);
``keepdims`` defaults to 1. Version 20 of ReduceMax/ReduceMin only adds
bool inputs (False < True).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
from torch import nn

from harness.twin.converters._registry import register_missing

__all__ = ["Reduce18"]

Reduction = Callable[[torch.Tensor, list[int], bool], torch.Tensor]


def _prod(x: torch.Tensor, dims: list[int], keepdim: bool) -> torch.Tensor:
    for dim in sorted(dims, reverse=True):  # torch.prod takes one axis at a time
        x = torch.prod(x, dim=dim, keepdim=keepdim)
    return x


def _max(x: torch.Tensor, dims: list[int], keepdim: bool) -> torch.Tensor:
    if x.dtype == torch.bool:
        return torch.amax(x.to(torch.uint8), dim=dims, keepdim=keepdim).to(torch.bool)
    return torch.amax(x, dim=dims, keepdim=keepdim)


def _min(x: torch.Tensor, dims: list[int], keepdim: bool) -> torch.Tensor:
    if x.dtype == torch.bool:
        return torch.amin(x.to(torch.uint8), dim=dims, keepdim=keepdim).to(torch.bool)
    return torch.amin(x, dim=dims, keepdim=keepdim)


def _l2(x: torch.Tensor, dims: list[int], keepdim: bool) -> torch.Tensor:
    if not x.is_floating_point():
        return torch.sqrt(torch.sum(x * x, dim=dims, keepdim=keepdim).double()).to(x.dtype)
    return torch.linalg.vector_norm(x, ord=2, dim=dims, keepdim=keepdim)


_REDUCTIONS: dict[str, Reduction] = {
    "ReduceL1": lambda x, d, k: torch.sum(torch.abs(x), dim=d, keepdim=k),
    "ReduceL2": _l2,
    "ReduceLogSum": lambda x, d, k: torch.log(torch.sum(x, dim=d, keepdim=k)),
    "ReduceLogSumExp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
    "ReduceMax": _max,
    "ReduceMean": lambda x, d, k: torch.mean(x, dim=d, keepdim=k),
    "ReduceMin": _min,
    "ReduceProd": _prod,
    "ReduceSumSquare": lambda x, d, k: torch.sum(x * x, dim=d, keepdim=k),
}


# What each reduction computes over an empty set of axes (noop_with_empty_axes=1).
_OVER_NO_AXIS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ReduceL1": torch.abs,
    "ReduceL2": torch.abs,
    "ReduceLogSum": torch.log,
    "ReduceSumSquare": lambda x: x * x,
}


class Reduce18(nn.Module):
    """One ONNX reduction with ``axes`` as an optional input."""

    def __init__(self, op_type: str, keepdims: int = 1, noop_with_empty_axes: int = 0) -> None:
        super().__init__()
        self.op_type = op_type
        self.keepdims = bool(keepdims)
        self.noop_with_empty_axes = bool(noop_with_empty_axes)

    def forward(self, data: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        if axes is None or axes.numel() == 0:
            if self.noop_with_empty_axes:
                return _OVER_NO_AXIS.get(self.op_type, lambda x: x)(data)
            # An explicit list: torch reads dim=[] as "every axis" for some ops, not others.
            dims = list(range(data.dim()))
        else:
            dims = sorted({int(a) % data.dim() for a in axes.tolist()})
        return _REDUCTIONS[self.op_type](data, dims, self.keepdims)


def _convert(node: Any, graph: Any) -> Any:
    del graph
    module = Reduce18(
        node.operation_type,
        keepdims=node.attributes.get("keepdims", 1),
        noop_with_empty_axes=node.attributes.get("noop_with_empty_axes", 0),
    )
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))


for _op_type in _REDUCTIONS:
    _versions = (18, 20) if _op_type in ("ReduceMax", "ReduceMin") else (18,)
    register_missing(_op_type, _versions)(_convert)
