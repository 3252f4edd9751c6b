"""LSTM and GRU: torch exports (one and two directions, batch_first wrapped) and hand-built
nodes (reverse, linear_before_reset=0, initial states, sequence_lens) against onnxruntime;
weights computed in the graph; the refusals; and the reference zoo GRU model."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    convert,
    expose_multi_output,
    init,
    make_model,
    randn,
    run_ort,
    run_twin,
    value,
)

RNN_ATOL = 1e-5
HIDDEN, INPUT, SEQ, BATCH = 6, 4, 5, 3


class _Exported(nn.Module):
    """(x) -> (outputs, h_n) of a torch LSTM/GRU; LSTM's c_n as a third output."""

    def __init__(self, kind: str, bidirectional: bool, batch_first: bool) -> None:
        super().__init__()
        cls = nn.LSTM if kind == "LSTM" else nn.GRU
        self.rnn = cls(INPUT, HIDDEN, bidirectional=bidirectional, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, state = self.rnn(x)
        return (out, *state) if isinstance(state, tuple) else (out, state)


def _export(module: nn.Module, x: torch.Tensor, n_outputs: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (x,),
            buffer,  # type: ignore[arg-type]  # torch accepts a file object
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=[f"out{i}" for i in range(n_outputs)],
        )
    return expose_multi_output(onnx.load_from_string(buffer.getvalue()))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_exported_rnn_matches_onnxruntime(
    kind: str, bidirectional: bool, batch_first: bool
) -> None:
    torch.manual_seed(0)
    module = _Exported(kind, bidirectional, batch_first)
    shape = (BATCH, SEQ, INPUT) if batch_first else (SEQ, BATCH, INPUT)
    x = torch.randn(*shape)
    model = _export(module, x, 3 if kind == "LSTM" else 2)
    assert kind in {n.op_type for n in model.graph.node}
    feeds = {"x": x.numpy()}
    twin = assert_parity(model, feeds, rtol=1e-5, atol=RNN_ATOL)
    assert_grads_flow(twin, model, feeds)
    with torch.no_grad():  # and the twin computes what the original torch module does
        for got, want in zip(twin(x), module(x), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=RNN_ATOL)


# ------------------------------------------------------------------ hand-built nodes


def _weights(kind: str, directions: int, seed: int = 1) -> list[onnx.TensorProto]:
    gates = 4 if kind == "LSTM" else 3
    rng = np.random.default_rng(seed)

    def draw(*shape: int) -> np.ndarray:
        return (0.5 * rng.standard_normal(shape)).astype(np.float32)

    return [
        init("W", draw(directions, gates * HIDDEN, INPUT)),
        init("R", draw(directions, gates * HIDDEN, HIDDEN)),
        init("B", draw(directions, 2 * gates * HIDDEN)),
    ]


def _rnn_model(
    kind: str,
    direction: str = "forward",
    with_initial: bool = True,
    sequence_lens: list[int] | None = None,
    opset: int = 14,
    **attrs: Any,
) -> onnx.ModelProto:
    directions = 2 if direction == "bidirectional" else 1
    inits = _weights(kind, directions)
    inputs = [value("x", shape=[SEQ, BATCH, INPUT])]
    names = ["x", "W", "R", "B", "", ""]
    if sequence_lens is not None:
        names[4] = "lens"
        inits.append(init("lens", np.array(sequence_lens, np.int32)))
    if with_initial:
        names[5] = "h0"
        inputs.append(value("h0", shape=[directions, BATCH, HIDDEN]))
        if kind == "LSTM":
            names.append("c0")
            inputs.append(value("c0", shape=[directions, BATCH, HIDDEN]))
    while names[-1] == "":
        names.pop()
    outs = ["Y", "Y_h", "Y_c"] if kind == "LSTM" else ["Y", "Y_h"]
    node = helper.make_node(kind, names, outs, hidden_size=HIDDEN, direction=direction, **attrs)
    model = make_model([node], inputs, [value(o) for o in outs], inits, opset=opset)
    return expose_multi_output(model)


def _feeds(kind: str, direction: str, with_initial: bool = True) -> dict[str, np.ndarray]:
    directions = 2 if direction == "bidirectional" else 1
    feeds = {"x": randn(SEQ, BATCH, INPUT)}
    if with_initial:
        feeds["h0"] = randn(directions, BATCH, HIDDEN, seed=2)
        if kind == "LSTM":
            feeds["c0"] = randn(directions, BATCH, HIDDEN, seed=3)
    return feeds


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize(
    ("kind", "attrs"),
    [("LSTM", {}), ("GRU", {"linear_before_reset": 1}), ("GRU", {"linear_before_reset": 0})],
    ids=["LSTM", "GRU-lbr1", "GRU-lbr0"],
)
def test_hand_built_rnn_matches_onnxruntime(
    kind: str, attrs: dict[str, Any], direction: str
) -> None:
    model = _rnn_model(kind, direction, **attrs)
    feeds = _feeds(kind, direction)
    twin = assert_parity(model, feeds, rtol=1e-5, atol=RNN_ATOL)
    assert_grads_flow(twin, model, feeds)


@pytest.mark.parametrize("opset", [7, 22])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_rnn_at_opsets_7_and_22_matches_onnxruntime(kind: str, opset: int) -> None:
    attrs = {"linear_before_reset": 0} if kind == "GRU" else {}
    model = _rnn_model(kind, "bidirectional", opset=opset, **attrs)
    assert_parity(model, _feeds(kind, "bidirectional"), rtol=1e-5, atol=RNN_ATOL)


def test_full_length_sequence_lens_and_no_initial_state_match_onnxruntime() -> None:
    model = _rnn_model("GRU", "bidirectional", with_initial=False, sequence_lens=[SEQ] * BATCH)
    assert_parity(model, _feeds("GRU", "bidirectional", False), rtol=1e-5, atol=RNN_ATOL)


def test_explicit_default_activations_are_accepted() -> None:
    model = _rnn_model("LSTM", activations=["Sigmoid", "Tanh", "Tanh"])
    assert_parity(model, _feeds("LSTM", "forward"), rtol=1e-5, atol=RNN_ATOL)


def test_shorter_sequence_lens_raise_when_run() -> None:
    model = _rnn_model("LSTM", sequence_lens=[SEQ, SEQ - 2, SEQ])
    twin = convert(model)
    with pytest.raises(NotImplementedError, match="only full-length sequences"):
        run_twin(twin, model, _feeds("LSTM", "forward"))


@pytest.mark.parametrize(
    ("kind", "attrs", "match"),
    [
        ("LSTM", {"layout": 1}, "layout=1"),
        ("GRU", {"activations": ["Relu", "Tanh"]}, "activations"),
        ("LSTM", {"clip": 3.0}, "clip"),
        ("LSTM", {"input_forget": 1}, "input_forget"),
    ],
)
def test_unsupported_attributes_are_refused(kind: str, attrs: dict[str, Any], match: str) -> None:
    with pytest.raises(NotImplementedError, match=match):
        convert(_rnn_model(kind, **attrs))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_weights_computed_in_the_graph_match_onnxruntime_and_get_gradients(kind: str) -> None:
    """The dynamo exporter computes R by slicing and concatenating torch's weight; here W
    and R arrive as graph inputs, and gradients reach them too."""
    model = _rnn_model(kind, "bidirectional")
    feeds = _feeds(kind, "bidirectional")
    for name in ("W", "R"):
        tensor = next(i for i in model.graph.initializer if i.name == name)
        model.graph.initializer.remove(tensor)
        model.graph.input.append(value(name, TensorProto.FLOAT, list(tensor.dims)))
        feeds[name] = onnx.numpy_helper.to_array(tensor)
    twin = assert_parity(model, feeds, rtol=1e-5, atol=RNN_ATOL)
    assert_grads_flow(twin, model, feeds)


def test_non_zero_peepholes_are_refused() -> None:
    model = _rnn_model("LSTM")
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    lstm.input.append("P")
    model.graph.initializer.append(init("P", np.ones((1, 3 * HIDDEN), np.float32)))
    with pytest.raises(NotImplementedError, match="peephole"):
        convert(model)


# ------------------------------------------------------------------ the reference zoo model


def test_zoo_rnn_trigger_matches_onnxruntime() -> None:
    from harness.models.tasks import load_task

    model = onnx.load(Path(__file__).parents[2] / "models" / "zoo" / "rnn_trigger.onnx")
    feeds = load_task("trigger_tokens").test_batch(4)
    twin = convert(model)
    (expected,) = run_ort(model, feeds)
    with torch.no_grad():
        (got,) = run_twin(twin, model, feeds)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=RNN_ATOL)
