"""LSTM and GRU (7, 14, 22): layout 0, forward/reverse/bidirectional, default activations.

ONNX stacks the gates as LSTM (i, o, f, c) and GRU (z, r, h); torch as LSTM (i, f, g, o)
and GRU (r, z, n), so the weight blocks are reordered once at conversion. Where torch's own
``nn.LSTM``/``nn.GRU`` computes the same function (every LSTM; GRU with
``linear_before_reset=1``, which is what torch exports) the twin runs them; a GRU with
``linear_before_reset=0`` applies the reset gate before the recurrent linear map, which
``nn.GRU`` cannot, so it runs an explicit loop over time steps. A single reverse direction
runs forward over the time-flipped input.

Refused with NotImplementedError: ``layout=1``, ``clip``, non-default ``activations``,
``input_forget=1``, non-zero peepholes ``P``, weights computed in the graph (W, R, B must be
initializers or Constants), and, at run time, ``sequence_lens`` shorter than the sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value
from torch import nn

from harness.twin.converters._registry import register_missing

__all__ = ["ManualGRU", "TorchRecurrent"]

_VERSIONS = (7, 14, 22)  # 14 adds layout (only 0 is supported here), 22 bfloat16
_LSTM_TO_TORCH = (0, 2, 3, 1)  # ONNX (i, o, f, c) -> torch (i, f, g, o)
_GRU_TO_TORCH = (1, 0, 2)  # ONNX (z, r, h) -> torch (r, z, n)
_DEFAULT_ACTIVATIONS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh")}
_DIRECTIONS = ("forward", "reverse", "bidirectional")

Outputs = torch.Tensor | tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class _Weights:
    w: torch.Tensor  # (directions, gates * hidden, input)
    r: torch.Tensor  # (directions, gates * hidden, hidden)
    b: torch.Tensor  # (directions, 2 * gates * hidden): input biases, then recurrent


def _refuse(node: Any, what: str) -> NotImplementedError:
    return NotImplementedError(f"{node.operation_type} node {node.name!r}: {what}")


def _input_name(node: Any, index: int) -> str:
    return node.input_values[index] if len(node.input_values) > index else ""


def _constant(node: Any, graph: Any, index: int, what: str) -> torch.Tensor | None:
    name = _input_name(node, index)
    if not name:
        return None
    try:
        return torch.as_tensor(get_const_value(name, graph))
    except KeyError as exc:
        raise _refuse(
            node,
            f"{what} {name!r} is computed in the graph; the twin needs it as an initializer "
            "or a Constant (fold the graph's constants first)",
        ) from exc


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


def _weights(node: Any, graph: Any, gates: int, hidden: int) -> _Weights:
    w = _constant(node, graph, 1, "weight W")
    r = _constant(node, graph, 2, "recurrence weight R")
    if w is None or r is None:
        raise _refuse(node, "inputs W and R are required")
    b = _constant(node, graph, 3, "bias B")
    if b is None:
        b = torch.zeros(w.shape[0], 2 * gates * hidden, dtype=w.dtype)
    if w.shape[1] != gates * hidden:
        raise _refuse(node, f"W has shape {list(w.shape)}; expected {gates * hidden} rows")
    return _Weights(w=w, r=r, b=b)


def _reorder(t: torch.Tensor, order: tuple[int, ...], hidden: int) -> torch.Tensor:
    blocks = t.split(hidden, dim=0)
    return torch.cat([blocks[i] for i in order], dim=0).contiguous()


def _check_full_length(sequence_lens: torch.Tensor | None, steps: int) -> None:
    if sequence_lens is not None and bool((sequence_lens != steps).any()):
        raise NotImplementedError(
            f"sequence_lens={sequence_lens.tolist()} with {steps} time steps: the twin supports "
            "only full-length sequences; pad every sequence to the full length and drop "
            "sequence_lens, or leave gradient methods off for this model"
        )


def _initial(state: torch.Tensor | None, directions: int, x: torch.Tensor, hidden: int) -> Any:
    if state is not None:
        return state.contiguous()
    return x.new_zeros(directions, x.shape[1], hidden)


def _pack(outputs: tuple[torch.Tensor, ...], n_outputs: int) -> Outputs:
    # onnx2torch indexes a node's outputs only when it has more than one.
    return outputs[0] if n_outputs == 1 else outputs[:n_outputs]


class TorchRecurrent(nn.Module):
    """ONNX LSTM / GRU (linear_before_reset=1) on torch's nn.LSTM / nn.GRU; returns
    Y (seq, directions, batch, hidden), Y_h and, for LSTM, Y_c (directions, batch, hidden)."""

    def __init__(self, rnn: nn.LSTM | nn.GRU, reverse: bool, n_outputs: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.reverse = reverse
        self.n_outputs = n_outputs

    def forward(
        self,
        x: torch.Tensor,
        sequence_lens: torch.Tensor | None = None,
        initial_h: torch.Tensor | None = None,
        initial_c: torch.Tensor | None = None,
    ) -> Outputs:
        _check_full_length(sequence_lens, x.shape[0])
        directions = 2 if self.rnn.bidirectional else 1
        hidden = self.rnn.hidden_size
        h0 = _initial(initial_h, directions, x, hidden)
        if self.reverse:
            x = x.flip(0)
        if isinstance(self.rnn, nn.LSTM):
            c0 = _initial(initial_c, directions, x, hidden)
            y, (h_n, c_n) = self.rnn(x, (h0, c0))
            states: tuple[torch.Tensor, ...] = (h_n, c_n)
        else:
            y, h_n = self.rnn(x, h0)
            states = (h_n,)
        if self.reverse:
            y = y.flip(0)
        y = y.reshape(y.shape[0], y.shape[1], directions, hidden).permute(0, 2, 1, 3)
        return _pack((y, *states), self.n_outputs)


class ManualGRU(nn.Module):
    """ONNX GRU step by step, for ``linear_before_reset=0``:
    h~ = tanh(W_h x + R_h (r * h) + Wb_h + Rb_h), h' = (1 - z) * h~ + z * h."""

    def __init__(self, weights: _Weights, hidden: int, direction: str, n_outputs: int) -> None:
        super().__init__()
        self.w = nn.Parameter(weights.w.clone())
        self.r = nn.Parameter(weights.r.clone())
        self.b = nn.Parameter(weights.b.clone())
        self.hidden = hidden
        self.reverse_flags = {
            "forward": (False,),
            "reverse": (True,),
            "bidirectional": (False, True),
        }[direction]
        self.n_outputs = n_outputs

    def _run(self, x: torch.Tensor, h: torch.Tensor, d: int, reverse: bool) -> list[torch.Tensor]:
        hid = self.hidden
        x_proj = x @ self.w[d].T + self.b[d, : 3 * hid]  # (seq, batch, 3 * hidden): z, r, h
        r_z, r_r, r_h = self.r[d].split(hid, dim=0)
        rb_z, rb_r, rb_h = self.b[d, 3 * hid :].split(hid)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        out: list[torch.Tensor] = [h] * x.shape[0]
        for t in steps:
            xz, xr, xh = x_proj[t].split(hid, dim=-1)
            z = torch.sigmoid(xz + h @ r_z.T + rb_z)
            r = torch.sigmoid(xr + h @ r_r.T + rb_r)
            candidate = torch.tanh(xh + (r * h) @ r_h.T + rb_h)
            h = (1 - z) * candidate + z * h
            out[t] = h
        return out

    def forward(
        self,
        x: torch.Tensor,
        sequence_lens: torch.Tensor | None = None,
        initial_h: torch.Tensor | None = None,
    ) -> Outputs:
        _check_full_length(sequence_lens, x.shape[0])
        h0 = _initial(initial_h, len(self.reverse_flags), x, self.hidden)
        ys, finals = [], []
        for d, reverse in enumerate(self.reverse_flags):
            steps = self._run(x, h0[d], d, reverse)
            ys.append(torch.stack(steps))
            finals.append(steps[0] if reverse else steps[-1])
        return _pack((torch.stack(ys, dim=1), torch.stack(finals)), self.n_outputs)


def _load(rnn: nn.LSTM | nn.GRU, weights: _Weights, order: tuple[int, ...], hidden: int) -> None:
    gates = len(order)
    with torch.no_grad():
        for d in range(weights.w.shape[0]):
            suffix = "_l0_reverse" if d == 1 else "_l0"
            bias_ih, bias_hh = weights.b[d].split(gates * hidden)
            for name, value in (
                ("weight_ih", weights.w[d]),
                ("weight_hh", weights.r[d]),
                ("bias_ih", bias_ih),
                ("bias_hh", bias_hh),
            ):
                getattr(rnn, name + suffix).copy_(_reorder(value, order, hidden))


def _spec(node: Any) -> tuple[int, str, int]:
    hidden = node.attributes.get("hidden_size")
    direction = node.attributes.get("direction", "forward")
    if direction not in _DIRECTIONS:
        raise _refuse(node, f"direction={direction!r}; expected one of {_DIRECTIONS}")
    if not hidden:
        raise _refuse(node, "the hidden_size attribute is required")
    directions = 2 if direction == "bidirectional" else 1
    _check_attributes(node, directions)
    return int(hidden), direction, directions


def _mapping(node: Any, indices: tuple[int, ...]) -> OnnxMapping:
    return OnnxMapping(
        inputs=tuple(_input_name(node, i) for i in indices), outputs=node.output_values
    )


@register_missing("LSTM", _VERSIONS)
def convert_lstm(node: Any, graph: Any) -> Any:
    hidden, direction, directions = _spec(node)
    weights = _weights(node, graph, gates=4, hidden=hidden)
    peepholes = _constant(node, graph, 7, "peephole weight P")
    if peepholes is not None and bool(peepholes.any()):
        raise _refuse(node, "non-zero peephole weights P are not supported")
    lstm = nn.LSTM(weights.w.shape[2], hidden, bidirectional=directions == 2, dtype=weights.w.dtype)
    _load(lstm, weights, _LSTM_TO_TORCH, hidden)
    module = TorchRecurrent(lstm, reverse=direction == "reverse", n_outputs=len(node.output_values))
    return OperationConverterResult(torch_module=module, onnx_mapping=_mapping(node, (0, 4, 5, 6)))


@register_missing("GRU", _VERSIONS)
def convert_gru(node: Any, graph: Any) -> Any:
    hidden, direction, directions = _spec(node)
    weights = _weights(node, graph, gates=3, hidden=hidden)
    n_outputs = len(node.output_values)
    module: nn.Module
    if node.attributes.get("linear_before_reset", 0):
        gru = nn.GRU(
            weights.w.shape[2], hidden, bidirectional=directions == 2, dtype=weights.w.dtype
        )
        _load(gru, weights, _GRU_TO_TORCH, hidden)
        module = TorchRecurrent(gru, reverse=direction == "reverse", n_outputs=n_outputs)
    else:
        module = ManualGRU(weights, hidden, direction, n_outputs)
    return OperationConverterResult(torch_module=module, onnx_mapping=_mapping(node, (0, 4, 5)))
