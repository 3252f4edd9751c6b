"""LSTM and GRU (7, 14, 22): layout 0, forward/reverse/bidirectional, default activations.

ONNX stacks the gates as LSTM (i, o, f, c) and GRU (z, r, h); torch as LSTM (i, f, g, o)
and GRU (r, z, n). The node's W, R and B arrive as inputs at run time, initializers or
computed (the dynamo exporter slices and concatenates torch's weights in the graph), and
are reordered on every call, so gradients also reach whatever computed them. Where torch's
kernels compute the same function (every LSTM; GRU with ``linear_before_reset=1``, which is
what torch exports) they run through ``torch.func.functional_call`` on a weightless
(meta-device) ``nn.LSTM``/``nn.GRU``; a GRU with ``linear_before_reset=0`` applies the reset
gate before the recurrent linear map, which ``nn.GRU`` cannot, so it runs an explicit loop
over time steps. A single reverse direction runs forward over the time-flipped input.

Refused with NotImplementedError: ``layout=1``, ``clip``, non-default ``activations``,
``input_forget=1``, non-zero peepholes ``P``, and, at run time, ``sequence_lens`` shorter
than the sequence.
"""

from __future__ import annotations

from typing import Any

import torch
from onnx2torch.utils.common import (
    OperationConverterResult,
    get_const_value,
    onnx_mapping_from_node,
)
from torch import nn
from torch.func import functional_call

from harness.twin.converters._registry import register_missing

__all__ = ["ManualGRU", "TorchRecurrent"]

_VERSIONS = (7, 14, 22)  # 14 adds layout (only 0 is supported here), 22 bfloat16
_LSTM_TO_TORCH = (0, 2, 3, 1)  # ONNX (i, o, f, c) -> torch (i, f, g, o)
_GRU_TO_TORCH = (1, 0, 2)  # ONNX (z, r, h) -> torch (r, z, n)
_DEFAULT_ACTIVATIONS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh")}
_DIRECTIONS = ("forward", "reverse", "bidirectional")

Outputs = torch.Tensor | tuple[torch.Tensor, ...]


def _refuse(node: Any, what: str) -> NotImplementedError:
    return NotImplementedError(f"{node.operation_type} node {node.name!r}: {what}")


def _check_attributes(node: Any, directions: int) -> None:
    attrs = node.attributes
    if attrs.get("layout", 0) != 0:
        raise _refuse(node, f"layout={attrs['layout']}; only layout 0 (time-major) is supported")
    if "clip" in attrs:
        raise _refuse(node, f"clip={attrs['clip']}; cell clipping is not supported")
    if attrs.get("input_forget", 0) != 0:
        raise _refuse(node, "input_forget=1 (coupled input and forget gates) is not supported")
    default = _DEFAULT_ACTIVATIONS[node.operation_type] * directions
    activations = tuple(str(a).lower() for a in attrs.get("activations", default))
    if activations != default:
        raise _refuse(
            node,
            f"activations={list(attrs['activations'])}; only the defaults "
            f"{list(default)} are supported",
        )


def _check_peepholes(p: torch.Tensor | None) -> None:
    if p is not None and bool(p.any()):
        raise NotImplementedError("LSTM with non-zero peephole weights P is not supported")


def _check_full_length(sequence_lens: torch.Tensor | None, steps: int) -> None:
    if sequence_lens is not None and bool((sequence_lens != steps).any()):
        raise NotImplementedError(
            f"sequence_lens={sequence_lens.tolist()} with {steps} time steps: the twin supports "
            "only full-length sequences; pad every sequence to the full length and drop "
            "sequence_lens, or leave gradient methods off for this model"
        )


def _bias(b: torch.Tensor | None, w: torch.Tensor, gates: int, hidden: int) -> torch.Tensor:
    return w.new_zeros(w.shape[0], 2 * gates * hidden) if b is None else b


def _initial(state: torch.Tensor | None, directions: int, x: torch.Tensor, hidden: int) -> Any:
    if state is not None:
        return state.contiguous()
    return x.new_zeros(directions, x.shape[1], hidden)


def _reorder(t: torch.Tensor, order: tuple[int, ...], hidden: int) -> torch.Tensor:
    blocks = t.split(hidden, dim=0)
    return torch.cat([blocks[i] for i in order], dim=0)


def _pack(outputs: tuple[torch.Tensor, ...], n_outputs: int) -> Outputs:
    # onnx2torch indexes a node's outputs only when it has more than one.
    return outputs[0] if n_outputs == 1 else outputs[:n_outputs]


class TorchRecurrent(nn.Module):
    """ONNX LSTM / GRU (linear_before_reset=1) on torch's kernels; returns Y (seq,
    directions, batch, hidden), Y_h and, for LSTM, Y_c (directions, batch, hidden)."""

    def __init__(self, kind: str, hidden: int, direction: str, n_outputs: int) -> None:
        super().__init__()
        self.kind = kind
        self.hidden = hidden
        self.direction = direction
        self.n_outputs = n_outputs

    def _torch_weights(
        self, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        order = _LSTM_TO_TORCH if self.kind == "LSTM" else _GRU_TO_TORCH
        params = {}
        for d in range(w.shape[0]):
            suffix = "_l0_reverse" if d == 1 else "_l0"
            bias_ih, bias_hh = b[d].split(len(order) * self.hidden)
            params["weight_ih" + suffix] = _reorder(w[d], order, self.hidden)
            params["weight_hh" + suffix] = _reorder(r[d], order, self.hidden)
            params["bias_ih" + suffix] = _reorder(bias_ih, order, self.hidden)
            params["bias_hh" + suffix] = _reorder(bias_hh, order, self.hidden)
        return params

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        r: torch.Tensor,
        b: torch.Tensor | None = None,
        sequence_lens: torch.Tensor | None = None,
        initial_h: torch.Tensor | None = None,
        initial_c: torch.Tensor | None = None,
        p: torch.Tensor | None = None,
    ) -> Outputs:
        _check_full_length(sequence_lens, x.shape[0])
        _check_peepholes(p)
        gates = 4 if self.kind == "LSTM" else 3
        params = self._torch_weights(w, r, _bias(b, w, gates, self.hidden))
        directions = w.shape[0]
        cls = nn.LSTM if self.kind == "LSTM" else nn.GRU
        # Shapes only: functional_call supplies every weight, so nothing is allocated.
        template = cls(w.shape[2], self.hidden, bidirectional=directions == 2, device="meta")
        h0 = _initial(initial_h, directions, x, self.hidden)
        if self.direction == "reverse":
            x = x.flip(0)
        if self.kind == "LSTM":
            c0 = _initial(initial_c, directions, x, self.hidden)
            y, (h_n, c_n) = functional_call(template, params, (x, (h0, c0)))
            states: tuple[torch.Tensor, ...] = (h_n, c_n)
        else:
            y, h_n = functional_call(template, params, (x, h0))
            states = (h_n,)
        if self.direction == "reverse":
            y = y.flip(0)
        y = y.reshape(y.shape[0], y.shape[1], directions, self.hidden).permute(0, 2, 1, 3)
        return _pack((y, *states), self.n_outputs)


class ManualGRU(nn.Module):
    """ONNX GRU step by step, for ``linear_before_reset=0``:
    h~ = tanh(W_h x + R_h (r * h) + Wb_h + Rb_h), h' = (1 - z) * h~ + z * h."""

    def __init__(self, hidden: int, direction: str, n_outputs: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.reverse_flags = {
            "forward": (False,),
            "reverse": (True,),
            "bidirectional": (False, True),
        }[direction]
        self.n_outputs = n_outputs

    def _run(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        reverse: bool,
    ) -> list[torch.Tensor]:
        w, r, b = weights  # one direction's (3h, in), (3h, h), (6h,)
        hid = self.hidden
        x_proj = x @ w.T + b[: 3 * hid]  # (seq, batch, 3 * hidden): z, r, h
        r_z, r_r, r_h = r.split(hid, dim=0)
        rb_z, rb_r, rb_h = b[3 * hid :].split(hid)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        out: list[torch.Tensor] = [h] * x.shape[0]
        for t in steps:
            xz, xr, xh = x_proj[t].split(hid, dim=-1)
            z = torch.sigmoid(xz + h @ r_z.T + rb_z)
            reset = torch.sigmoid(xr + h @ r_r.T + rb_r)
            candidate = torch.tanh(xh + (reset * h) @ r_h.T + rb_h)
            h = (1 - z) * candidate + z * h
            out[t] = h
        return out

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        r: torch.Tensor,
        b: torch.Tensor | None = None,
        sequence_lens: torch.Tensor | None = None,
        initial_h: torch.Tensor | None = None,
    ) -> Outputs:
        _check_full_length(sequence_lens, x.shape[0])
        b = _bias(b, w, 3, self.hidden)
        h0 = _initial(initial_h, len(self.reverse_flags), x, self.hidden)
        ys, finals = [], []
        for d, reverse in enumerate(self.reverse_flags):
            steps = self._run(x, h0[d], (w[d], r[d], b[d]), reverse)
            ys.append(torch.stack(steps))
            finals.append(steps[0] if reverse else steps[-1])
        return _pack((torch.stack(ys, dim=1), torch.stack(finals)), self.n_outputs)


def _spec(node: Any) -> tuple[int, str]:
    hidden = node.attributes.get("hidden_size")
    direction = node.attributes.get("direction", "forward")
    if direction not in _DIRECTIONS:
        raise _refuse(node, f"direction={direction!r}; expected one of {_DIRECTIONS}")
    if not hidden:
        raise _refuse(node, "the hidden_size attribute is required")
    _check_attributes(node, 2 if direction == "bidirectional" else 1)
    return int(hidden), direction


def _refuse_constant_peepholes(node: Any, graph: Any) -> None:
    """Refuse at conversion what the run would refuse, when P is a constant."""
    name = node.input_values[7] if len(node.input_values) > 7 else ""
    if not name:
        return
    try:
        p = torch.as_tensor(get_const_value(name, graph))
    except KeyError:
        return  # computed in the graph: checked when the twin runs
    if bool(p.any()):
        raise _refuse(node, "non-zero peephole weights P are not supported")


@register_missing("LSTM", _VERSIONS)
def convert_lstm(node: Any, graph: Any) -> Any:
    hidden, direction = _spec(node)
    _refuse_constant_peepholes(node, graph)
    module = TorchRecurrent("LSTM", hidden, direction, n_outputs=len(node.output_values))
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))


@register_missing("GRU", _VERSIONS)
def convert_gru(node: Any, graph: Any) -> Any:
    del graph
    hidden, direction = _spec(node)
    n_outputs = len(node.output_values)
    module: nn.Module
    if node.attributes.get("linear_before_reset", 0):
        module = TorchRecurrent("GRU", hidden, direction, n_outputs)
    else:
        module = ManualGRU(hidden, direction, n_outputs)
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))
