"""Shared helpers for the converter parity tests: build a tiny ONNX model, convert it with
onnx2torch after ``register_all()``, and compare against onnxruntime.

Imported by the ``test_converters_*`` modules; its own tests check the helpers catch what
they should.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from harness.twin.converters import register_all

RTOL = 1e-5
ATOL = 1e-6


def value(
    name: str, elem_type: int = TensorProto.FLOAT, shape: Sequence[Any] | None = None
) -> onnx.ValueInfoProto:
    """A typed graph input or output; shape None leaves the shape to inference."""
    return helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape))


def init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    opset: int = 18,
) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    imports = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = helper.find_min_ir_version_for(imports)
    return model


def expose_multi_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """Route graph outputs that come from a multi-output node through Identity.

    onnx2torch's ``convert`` hands out a multi-output node's whole tuple for such a graph
    output (it indexes outputs only for node inputs), e.g. an exported LSTM's ``h_n``.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    multi = {o for n in model.graph.node if len(n.output) > 1 for o in n.output}
    for output in model.graph.output:
        if output.name in multi:
            exposed = f"{output.name}__exposed"
            model.graph.node.append(helper.make_node("Identity", [output.name], [exposed]))
            output.name = exposed
    return model


def convert(model: onnx.ModelProto) -> torch.nn.Module:
    """The twin as the harness builds it: converters registered, eval mode."""
    import onnx2torch

    register_all()
    return onnx2torch.convert(model).eval()


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, feeds)]


def _graph_inputs(model: onnx.ModelProto) -> list[str]:
    initializers = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def run_twin(
    twin: torch.nn.Module, model: onnx.ModelProto, feeds: dict[str, np.ndarray]
) -> list[torch.Tensor]:
    args = [torch.from_numpy(np.array(feeds[n], copy=True)) for n in _graph_inputs(model)]
    out = twin(*args)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_parity(
    model: onnx.ModelProto,
    feeds: dict[str, np.ndarray],
    rtol: float = RTOL,
    atol: float = ATOL,
    reference: onnx.ModelProto | None = None,
) -> torch.nn.Module:
    """Convert ``model``, run both, compare every output (values, dtype class and shape).
    ``reference``, when given, is the model onnxruntime runs instead (an equivalent one at
    an opset onnxruntime implements)."""
    twin = convert(model)
    expected = run_ort(model if reference is None else reference, feeds)
    with torch.no_grad():
        got = run_twin(twin, model, feeds)
    assert len(got) == len(expected), f"{len(got)} outputs, onnxruntime gives {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        g_np = g.detach().numpy()
        assert g_np.shape == e.shape, f"output {i}: shape {g_np.shape} vs {e.shape}"
        assert g_np.dtype.kind == e.dtype.kind, f"output {i}: dtype {g_np.dtype} vs {e.dtype}"
        np.testing.assert_allclose(g_np, e, rtol=rtol, atol=atol, err_msg=f"output {i}")
    return twin


def assert_grads_flow(
    twin: torch.nn.Module,
    model: onnx.ModelProto,
    feeds: dict[str, np.ndarray],
    wrt: Sequence[str] | None = None,
) -> None:
    """output.sum().backward() gives finite, non-zero gradients for every float input (or
    for the inputs named in ``wrt``)."""
    args = []
    for name in _graph_inputs(model):
        t = torch.from_numpy(np.array(feeds[name], copy=True))
        if t.is_floating_point() and (wrt is None or name in wrt):
            t.requires_grad_(True)
        args.append(t)
    out = twin(*args)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    total = sum(o.sum() for o in outs if o.is_floating_point())
    assert isinstance(total, torch.Tensor), "no float output to differentiate"
    total.backward()
    for name, t in zip(_graph_inputs(model), args, strict=True):
        if t.requires_grad:
            assert t.grad is not None, f"no gradient reaches {name!r}"
            assert torch.isfinite(t.grad).all(), f"non-finite gradient for {name!r}"
            assert t.grad.abs().sum() > 0, f"zero gradient for {name!r}"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return rng(seed).standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------ the helpers' own tests


def _relu_model() -> onnx.ModelProto:
    return make_model(
        [helper.make_node("Relu", ["x"], ["y"])], [value("x", shape=[3])], [value("y", shape=[3])]
    )


def test_assert_parity_accepts_a_matching_model() -> None:
    assert_parity(_relu_model(), {"x": randn(3)})


def test_assert_grads_flow_rejects_a_zero_gradient() -> None:
    model = _relu_model()
    twin = convert(model)
    with pytest.raises(AssertionError, match="zero gradient"):
        assert_grads_flow(twin, model, {"x": -np.ones(3, np.float32)})
