"""If with a constant condition: the taken branch is inlined (outer-scope values, branch
initializers, a nested If, several outputs, ops whose version depends on the opset) and
matches onnxruntime; a data-dependent condition is refused."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    convert,
    init,
    make_model,
    randn,
    value,
)

F = TensorProto.FLOAT


def _branch(
    name: str,
    nodes: list[onnx.NodeProto],
    outputs: list[str],
    inits: Sequence[onnx.TensorProto] = (),
) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [value(o) for o in outputs], list(inits))


def _then() -> onnx.GraphProto:
    # reads the outer input x and the outer initializer w; has an initializer of its own
    return _branch(
        "then",
        [
            helper.make_node("Mul", ["x", "w"], ["t0"]),
            helper.make_node("Add", ["t0", "bias"], ["t1"]),
            helper.make_node("Tanh", ["t1"], ["then_out"]),
        ],
        ["then_out"],
        [init("bias", np.array([0.5, -0.5, 1.0], np.float32))],
    )


def _else() -> onnx.GraphProto:
    return _branch(
        "else",
        [
            helper.make_node("Sub", ["x", "w"], ["d"]),
            helper.make_node("Sigmoid", ["d"], ["else_out"]),
        ],
        ["else_out"],
    )


def _if_model(cond_nodes: list[onnx.NodeProto], opset: int = 17) -> onnx.ModelProto:
    node = helper.make_node("If", ["cond"], ["y"], then_branch=_then(), else_branch=_else())
    return make_model(
        [*cond_nodes, node],
        [value("x", shape=[2, 3])],
        [value("y")],
        [init("w", randn(3, seed=4))],
        opset=opset,
    )


def _constant_cond(flag: bool) -> onnx.NodeProto:
    tensor = helper.make_tensor("c", TensorProto.BOOL, [], [flag])
    return helper.make_node("Constant", [], ["cond"], value=tensor)


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
@pytest.mark.parametrize("flag", [True, False])
def test_if_with_a_constant_condition_matches_onnxruntime(flag: bool, opset: int) -> None:
    model = _if_model([_constant_cond(flag)], opset=opset)
    feeds = {"x": randn(2, 3)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)
    assert any(
        type(m).__name__ == "ConstantIf" and m.taken == ("then_branch" if flag else "else_branch")
        for m in twin.modules()
    )


def test_if_with_an_initializer_condition_matches_onnxruntime() -> None:
    model = _if_model([])
    model.graph.initializer.append(init("cond", np.array([False])))
    assert_parity(model, {"x": randn(2, 3)})


def test_branch_with_reduce_18_is_converted_at_the_models_opset() -> None:
    """The branch holds ReduceMean with axes as an input, which exists only from opset 18:
    converting the branch at If's since-version (16) instead would mis-read it."""
    then = _branch(
        "then",
        [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1)],
        ["m"],
        [init("axes", np.array([1], np.int64))],
    )
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=_else())
    model = make_model(
        [_constant_cond(True), node],
        [value("x", shape=[2, 3])],
        [value("y")],
        [init("w", randn(3))],
        opset=18,
    )
    assert_parity(model, {"x": randn(2, 3)})


def test_nested_if_with_two_outputs_matches_onnxruntime() -> None:
    inner_then = _branch("inner_then", [helper.make_node("Identity", ["x"], ["x1"])], ["x1"])
    inner = helper.make_node(
        "If", ["cond2"], ["inner_out"], then_branch=inner_then, else_branch=_else()
    )
    outer_then = _branch(
        "outer_then",
        [
            helper.make_node(
                "Constant",
                [],
                ["cond2"],
                value=helper.make_tensor("c2", TensorProto.BOOL, [], [True]),
            ),
            inner,
            helper.make_node("Mul", ["inner_out", "w"], ["outer_out"]),
            helper.make_node("Identity", ["x"], ["x2"]),
        ],
        ["outer_out", "x2"],
    )
    outer_else = _branch(
        "outer_else",
        [helper.make_node("Neg", ["x"], ["n"]), helper.make_node("Identity", ["w"], ["w2"])],
        ["n", "w2"],
    )
    node = helper.make_node(
        "If", ["cond"], ["y", "z"], then_branch=outer_then, else_branch=outer_else
    )
    model = make_model(
        [_constant_cond(True), node],
        [value("x", shape=[2, 3])],
        [value("y"), value("z")],
        [init("w", randn(3, seed=4))],
        opset=17,
    )
    feeds = {"x": randn(2, 3)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


def test_if_with_a_data_dependent_condition_is_refused() -> None:
    cond = helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0)
    positive = helper.make_node("Greater", ["s", "zero"], ["cond"])
    model = _if_model([cond, positive])
    model.graph.initializer.append(init("zero", np.array(0.0, np.float32)))
    with pytest.raises(NotImplementedError, match="If with a data-dependent condition"):
        convert(model)


def test_without_the_models_opset_an_unambiguous_branch_still_converts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.twin.converters import control_flow

    monkeypatch.setattr(control_flow, "_model_opsets", lambda: None)
    model = _if_model([_constant_cond(True)], opset=17)  # Mul/Add/Tanh: same at 16..18
    assert_parity(model, {"x": randn(2, 3)})


def test_without_the_models_opset_an_ambiguous_branch_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.twin.converters import control_flow

    monkeypatch.setattr(control_flow, "_model_opsets", lambda: None)
    then = _branch("then", [helper.make_node("ReduceMean", ["x"], ["m"])], ["m"])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=_else())
    model = make_model(
        [_constant_cond(True), node], [value("x", shape=[2, 3])], [value("y")],
        [init("w", randn(3))], opset=17,
    )  # fmt: skip
    with pytest.raises(NotImplementedError, match="ReduceMean in the branch differs"):
        convert(model)
