"""Inputs fixed by --value become constants in the twin: an If on them is inlined."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.twin.prepare import fix_inputs, prepare


def _gate_model() -> onnx.ModelProto:
    """y = x if mode == 1 else -x, the condition computed from the rank-0 input ``mode``."""
    info = helper.make_tensor_value_info
    then = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["kept"])], "then", [],
        [info("kept", TensorProto.FLOAT, [2, 3])],
    )  # fmt: skip
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["negated"])], "else", [],
        [info("negated", TensorProto.FLOAT, [2, 3])],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            helper.make_node("Equal", ["mode", "one"], ["is_one"]),
            helper.make_node("If", ["is_one"], ["y"], then_branch=then, else_branch=other),
        ],
        "gate",
        [info("x", TensorProto.FLOAT, [2, 3]), info("mode", TensorProto.INT64, [])],
        [info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array(1, np.int64), "one")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_fixed_input_becomes_an_initializer_and_leaves_the_inputs():
    proto, step = fix_inputs(_gate_model(), {"mode": np.array(1)})
    assert [i.name for i in proto.graph.input] == ["x"]
    fixed = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert fixed["mode"].dtype == np.int64 and fixed["mode"] == 1  # the declared type
    assert step.changed == 1 and "mode" in step.detail


def test_without_fixed_inputs_nothing_changes():
    model = _gate_model()
    proto, step = fix_inputs(model, {})
    assert proto is model and step.changed == 0


@pytest.mark.parametrize(("mode", "sign"), [(1, 1.0), (0, -1.0)])
def test_an_if_on_a_fixed_input_is_inlined_in_the_twin(mode, sign):
    import torch
    from onnx2torch import convert

    from harness.twin.converters import register_all

    register_all()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    proto, steps = prepare(_gate_model(), [{"x": x, "mode": np.array(mode)}], {"mode": mode})
    assert "is_one" in {t.name for t in proto.graph.initializer}  # the condition folded
    assert [s.name for s in steps if s.changed][:2] == ["fix_inputs", "fold_constants"]
    module = convert(proto).eval()
    with torch.no_grad():
        y = module(torch.from_numpy(x))
    np.testing.assert_array_equal(y.numpy(), sign * x)
