"""Pad-18+ (the optional ``axes`` input; ``wrap`` mode from 19) in every mode, on any axes.

onnx2torch stops at Pad-13 and pads reflect/edge through ``F.pad``, which only pads the
last one to three axes of a batched tensor (a 2-D input padded in reflect mode raises).
Here constant mode uses ``F.pad`` (which takes any axes and negative pads, i.e. crops) and
reflect/edge/wrap gather along each padded axis with an index vector, which works for any
rank and axis and stays differentiable with respect to the data.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
from torch import nn

from harness.twin.converters._registry import register_missing

__all__ = ["Pad"]

_MODES = ("constant", "reflect", "edge", "wrap")
_VERSIONS = (18, 19, 21, 23, 24, 25)  # 19 adds wrap; the rest only widen the types


def _source_index(begin: int, end: int, length: int, mode: str, device: Any) -> torch.Tensor:
    """For each output position along one axis, the input position it copies."""
    index = torch.arange(-begin, length + end, device=device)
    if mode == "edge":
        return index.clamp(0, length - 1)
    if mode == "wrap":
        return index.remainder(length)
    if length == 1:  # reflect about a single element repeats it
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    index = index.remainder(period)
    return torch.where(index >= length, period - index, index)


class Pad(nn.Module):
    """ONNX Pad: ``pads`` is [begin_0, ..., begin_k, end_0, ..., end_k] for ``axes`` (all
    axes when absent); negative pads crop."""

    def __init__(self, mode: str = "constant") -> None:
        super().__init__()
        self.mode = mode

    def forward(
        self,
        data: torch.Tensor,
        pads: torch.Tensor,
        constant_value: torch.Tensor | None = None,
        axes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        rank = data.dim()
        pad_list = [int(p) for p in pads.tolist()]
        axis_list = list(range(rank)) if axes is None else [int(a) for a in axes.tolist()]
        axis_list = [a + rank if a < 0 else a for a in axis_list]
        n = len(axis_list)
        begins = dict.fromkeys(range(rank), 0)
        ends = dict.fromkeys(range(rank), 0)
        for i, axis in enumerate(axis_list):
            begins[axis], ends[axis] = pad_list[i], pad_list[i + n]
        if self.mode == "constant":
            torch_pads: list[int] = []
            for axis in reversed(range(rank)):  # F.pad lists the last axis first
                torch_pads += [begins[axis], ends[axis]]
            value = 0.0 if constant_value is None else constant_value.item()
            return F.pad(data, torch_pads, mode="constant", value=value)
        out = data
        for axis in range(rank):
            if begins[axis] or ends[axis]:
                index = _source_index(
                    begins[axis], ends[axis], data.shape[axis], self.mode, data.device
                )
                out = out.index_select(axis, index)
        return out


@register_missing("Pad", _VERSIONS)
def convert_pad(node: Any, graph: Any) -> Any:
    del graph
    mode = node.attributes.get("mode", "constant")
    if mode not in _MODES:
        raise NotImplementedError(
            f"Pad node {node.name!r}: mode={mode!r}; expected one of {_MODES}"
        )
    return OperationConverterResult(
        torch_module=Pad(mode), onnx_mapping=onnx_mapping_from_node(node)
    )
