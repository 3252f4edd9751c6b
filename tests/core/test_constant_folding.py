"""The constant folder: node by node, past what it cannot evaluate, deterministic."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from harness.core.constant_folding import FoldPolicy, drop_unread_initializers, fold_constants
from harness.core.onnx_graph import infer_shapes, static_shapes

ANY_OP = FoldPolicy(ops=None, max_elements=1024)


def model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[TensorProto] | None = None,
    ir_version: int = 8,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or [])
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ir_version
    )
    return proto


def floats(name: str, shape: list[int | str] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def ints(name: str, values: list[int]) -> TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def ops(proto: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def values(proto: onnx.ModelProto) -> dict[str, list]:
    return {t.name: numpy_helper.to_array(t).tolist() for t in proto.graph.initializer}


def shapes_of(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = infer_shapes(proto)
    assert inferred is not None
    return static_shapes(inferred.graph)


def test_a_shape_gather_concat_chain_folds_to_the_reshape_target() -> None:
    """Reshape(x, Concat(Gather(Shape(x), [0]), [-1])) with x of shape (2, 3, 4): the
    target is [2, -1]; only the Reshape, which reads x itself, stays."""
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Gather", ["x_shape", "first"], ["batch"], axis=0),
        helper.make_node("Concat", ["batch", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    proto = model(
        nodes,
        [floats("x", [2, 3, 4])],
        [floats("y", None)],
        [ints("first", [0]), ints("minus_one", [-1])],
    )

    folded = fold_constants(proto, ANY_OP, shapes_of(proto))

    assert folded.folded == 3
    assert ops(folded.model) == ["Reshape"]
    assert values(folded.model) == {
        "first": [0],
        "minus_one": [-1],
        "x_shape": [2, 3, 4],
        "batch": [2],
        "target": [2, -1],
    }
    assert ops(proto) == ["Shape", "Gather", "Concat", "Reshape"]  # the input is untouched
    # Only the Reshape's target is still read: the rest go when asked.
    assert drop_unread_initializers(folded.model) == 4
    assert list(values(folded.model)) == ["target"]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    outputs = ReferenceEvaluator(folded.model).run(None, {"x": x})
    assert isinstance(outputs, list) and np.asarray(outputs[0]).shape == (2, 12)


def test_without_a_known_shape_the_shape_chain_stays() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Reshape", ["x", "x_shape"], ["y"]),
    ]
    proto = model(nodes, [floats("x", ["batch", 3])], [floats("y", None)])
    folded = fold_constants(proto, ANY_OP, shapes_of(proto))
    assert folded.folded == 0 and folded.model is proto


def test_folding_continues_past_a_node_the_evaluator_cannot_run() -> None:
    """Reshape of 6 values to shape [4] raises in the evaluator: it and the node that reads
    it stay; the Mul after them, which does not depend on it, still folds."""
    nodes = [
        helper.make_node("Reshape", ["six", "four"], ["bad"]),
        helper.make_node("Neg", ["bad"], ["after_bad"]),
        helper.make_node("Mul", ["scale", "two"], ["scaled"]),
        helper.make_node("Add", ["x", "scaled"], ["y"]),
        helper.make_node("Add", ["y", "after_bad"], ["z"]),
    ]
    initializers = [
        numpy_helper.from_array(np.arange(6, dtype=np.float32), "six"),
        ints("four", [4]),
        numpy_helper.from_array(np.array([1.5], np.float32), "scale"),
        numpy_helper.from_array(np.array([2.0], np.float32), "two"),
    ]
    proto = model(nodes, [floats("x", [1])], [floats("z", None)], initializers)

    folded = fold_constants(proto, ANY_OP)

    assert folded.folded == 1
    assert ops(folded.model) == ["Reshape", "Neg", "Add", "Add"]
    assert values(folded.model)["scaled"] == [3.0]


def test_a_graph_output_node_stays_but_its_value_feeds_later_nodes() -> None:
    nodes = [
        helper.make_node("Constant", [], ["c"], value_ints=[1, 2]),
        helper.make_node("Add", ["c", "one"], ["shown"]),
        helper.make_node("Mul", ["shown", "one"], ["hidden"]),
        helper.make_node("Add", ["x", "hidden"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.INT64, None) for n in ("shown", "y")]
    proto = model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.INT64, [2])],
        outputs,
        [ints("one", [1])],
    )

    folded = fold_constants(proto, ANY_OP)

    # The Constant is a constant already and the first Add writes an output: both stay.
    assert folded.folded == 1
    assert ops(folded.model) == ["Constant", "Add", "Add"]
    assert values(folded.model)["hidden"] == [2, 3]


def test_the_policy_limits_ops_and_sizes() -> None:
    nodes = [
        helper.make_node("Exp", ["small"], ["exp"]),
        helper.make_node("ConstantOfShape", ["count"], ["big"]),
        helper.make_node("Transpose", ["wide"], ["wide_t"], perm=[1, 0]),
        helper.make_node("RandomUniformLike", ["small"], ["noise"]),
        helper.make_node("Concat", ["x", "exp", "noise"], ["y"], axis=0),
        helper.make_node("Add", ["big", "wide_t"], ["unused"]),
    ]
    initializers = [
        numpy_helper.from_array(np.zeros(2, np.float32), "small"),
        ints("count", [2000]),
        numpy_helper.from_array(np.zeros((50, 40), np.float32), "wide"),
    ]
    outputs = [floats("y", None), floats("unused", None)]
    proto = model(nodes, [floats("x", [2])], outputs, initializers)

    folded = fold_constants(proto, ANY_OP)
    # Exp folds; 2000 zeros from one number are past 1024 elements; a transposed weight is
    # no larger than the weight; a random draw never folds.
    assert ops(folded.model) == ["ConstantOfShape", "RandomUniformLike", "Concat", "Add"]

    only_transpose = FoldPolicy(ops=frozenset({"Transpose"}), max_elements=1024)
    folded = fold_constants(proto, only_transpose)
    assert ops(folded.model) == ["Exp", "ConstantOfShape", "RandomUniformLike", "Concat", "Add"]


def test_folded_values_are_declared_inputs_too_before_ir_4() -> None:
    nodes = [
        helper.make_node("Neg", ["one"], ["minus"]),
        helper.make_node("Add", ["x", "minus"], ["y"]),
    ]
    inputs = [floats("x", [1]), floats("one", [1])]
    one = numpy_helper.from_array(np.ones(1, np.float32), "one")
    proto = model(nodes, inputs, [floats("y", None)], [one], ir_version=3)

    folded = fold_constants(proto, ANY_OP)

    assert [i.name for i in folded.model.graph.input] == ["x", "one", "minus"]
    assert drop_unread_initializers(folded.model) == 1
    assert [i.name for i in folded.model.graph.input] == ["x", "minus"]


def test_folding_is_deterministic() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Split", ["s"], ["a", "b"], axis=0, num_outputs=2),
        helper.make_node("Mul", ["a", "b"], ["ab"]),
        helper.make_node("Reshape", ["x", "ab"], ["y"]),
    ]
    proto = model(nodes, [floats("x", [2, 3])], [floats("y", None)])
    proto.opset_import[0].version = 18  # Split's num_outputs
    first = fold_constants(proto, ANY_OP, shapes_of(proto))
    second = fold_constants(proto, ANY_OP, shapes_of(proto))
    assert first.folded == 3 and values(first.model)["ab"] == [6]
    assert first.model.SerializeToString() == second.model.SerializeToString()
