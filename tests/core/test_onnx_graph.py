"""The ONNX graph helpers: op identity, item sizes, the opset fallback, shapes, node walks."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.core.onnx_graph import (
    add_initializer,
    attribute,
    constant_names,
    consumers,
    copy_model,
    element_types,
    has_subgraph,
    infer_shapes,
    is_op,
    item_size,
    node_outputs,
    op_identity,
    op_name,
    opset_version,
    pass_through_aliases,
    producers,
    ranks,
    static_shapes,
    tensor_bytes,
    tensor_elements,
    walk_graphs,
    walk_nodes,
)


def model_with(opsets: list[tuple[str, int]], ir_version: int = 8) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    imports = [helper.make_opsetid(domain, version) for domain, version in opsets]
    return helper.make_model(graph, opset_imports=imports, ir_version=ir_version)


# ------------------------------------------------------------------------------ opsets


def test_opset_version_reads_the_default_domain_under_either_name() -> None:
    assert opset_version(model_with([("", 17)])) == 17
    assert opset_version(model_with([("ai.onnx", 11)])) == 11
    assert opset_version(model_with([("", 13)]), domain="ai.onnx") == 13


def test_opset_version_of_another_domain() -> None:
    model = model_with([("", 17), ("com.microsoft", 1), ("com.example", 3)])
    assert opset_version(model, "com.example") == 3
    assert opset_version(model, "com.microsoft") == 1


def test_opset_version_without_an_import_falls_back_to_1() -> None:
    # onnx's checker reads a legacy model (IR < 3) without opset_import as opset 1.
    assert opset_version(model_with([], ir_version=2)) == 1
    assert opset_version(model_with([("com.example", 5)])) == 1
    assert opset_version(model_with([("", 17)]), domain="com.example") == 1


# ----------------------------------------------------------------------- item sizes


@pytest.mark.parametrize(
    ("elem_type", "size"),
    [
        (TensorProto.FLOAT, 4),
        (TensorProto.DOUBLE, 8),
        (TensorProto.FLOAT16, 2),
        (TensorProto.BFLOAT16, 2),
        (TensorProto.INT64, 8),
        (TensorProto.INT32, 4),
        (TensorProto.INT8, 1),
        (TensorProto.UINT8, 1),
        (TensorProto.BOOL, 1),
        (TensorProto.STRING, 0),  # no fixed size
        (TensorProto.UNDEFINED, 0),
    ],
)
def test_item_size(elem_type: int, size: int) -> None:
    assert item_size(elem_type) == size


def test_tensor_elements_and_bytes_come_from_dims() -> None:
    weight = numpy_helper.from_array(np.zeros((2, 3, 5), np.float16), "w")
    assert (tensor_elements(weight), tensor_bytes(weight)) == (30, 60)
    scalar = numpy_helper.from_array(np.array(7, np.int64), "s")
    assert (tensor_elements(scalar), tensor_bytes(scalar)) == (1, 8)
    names = numpy_helper.from_array(np.array([b"a", b"b"], dtype=object), "n")
    assert (tensor_elements(names), tensor_bytes(names)) == (2, 0)


# ---------------------------------------------------------------------- op identity


def test_op_identity_treats_ai_onnx_as_the_default_domain() -> None:
    plain = helper.make_node("Relu", ["x"], ["y"])
    spelled = helper.make_node("Relu", ["x"], ["y"], domain="ai.onnx")
    custom = helper.make_node("MysteryOp", ["x"], ["y"], domain="com.example")
    assert op_identity(plain) == op_identity(spelled) == ("", "Relu")
    assert op_identity(custom) == ("com.example", "MysteryOp")
    assert (op_name(plain), op_name(spelled), op_name(custom)) == (
        "Relu",
        "Relu",
        "com.example.MysteryOp",
    )
    assert is_op(spelled, "Relu") and is_op(plain, "Relu", domain="ai.onnx")
    assert not is_op(custom, "MysteryOp") and is_op(custom, "MysteryOp", "com.example")


def test_attribute_value_or_default() -> None:
    node = helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0], name="t")
    assert attribute(node, "perm") == [1, 0]
    assert attribute(node, "axis") is None
    assert attribute(node, "axis", 3) == 3


# --------------------------------------------------------------------------- shapes


def shapes_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])],
        initializer=[numpy_helper.from_array(np.zeros(3, np.float32), "w")],
        value_info=[
            helper.make_tensor_value_info("h", TensorProto.FLOAT16, [4, 3]),
            helper.make_tensor_value_info("unshaped", TensorProto.FLOAT, None),
        ],
    )


def test_static_shapes_keep_only_fully_numeric_shapes() -> None:
    assert static_shapes(shapes_graph()) == {"h": (4, 3), "y": (4, 3), "w": (3,)}


def test_ranks_count_symbolic_dims_too() -> None:
    assert ranks(shapes_graph()) == {"x": 2, "h": 2, "y": 2, "w": 1}


def test_element_types_from_value_info_and_initializers() -> None:
    assert element_types(shapes_graph()) == {
        "x": TensorProto.FLOAT,
        "h": TensorProto.FLOAT16,
        "unshaped": TensorProto.FLOAT,
        "y": TensorProto.FLOAT,
        "w": TensorProto.FLOAT,
    }


def test_infer_shapes_fills_value_info_or_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Neg", ["h"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    inferred = infer_shapes(model)
    assert inferred is not None and static_shapes(inferred.graph)["h"] == (2, 5)

    def fail(*args: object, **kwargs: object) -> None:
        raise onnx.shape_inference.InferenceError("[ShapeInferenceError] no")

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", fail)
    assert infer_shapes(model) is None


# ----------------------------------------------------------------------- node walks


def walk_model() -> onnx.ModelProto:
    """x -> Cast -> Reshape -> Gather(table, ids) ; an If whose branches read x."""

    def branch(name: str, op: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node(op, ["x"], [f"{name}_out"])],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_out", TensorProto.INT64, [2])],
        )

    nodes = [
        helper.make_node("Constant", [], ["shape"], value_ints=[2]),
        helper.make_node("Cast", ["x"], ["cast"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["cast", "shape"], ["ids"]),
        helper.make_node("Gather", ["table", "ids"], ["rows"]),
        helper.make_node("Neg", ["cast"], ["negated"]),
        helper.make_node(
            "If",
            ["flag"],
            ["chosen"],
            then_branch=branch("then", "Identity"),
            else_branch=branch("else", "Abs"),
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.INT64, [2]),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [2, 4])],
        initializer=[numpy_helper.from_array(np.zeros((10, 4), np.float32), "table")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_producers_and_consumers() -> None:
    graph = walk_model().graph
    writers = producers(graph)
    assert writers["ids"].op_type == "Reshape" and writers["chosen"].op_type == "If"
    assert "x" not in writers and "table" not in writers
    readers = consumers(graph)
    assert [n.op_type for n in readers["cast"]] == ["Reshape", "Neg"]
    assert [n.op_type for n in readers["x"]] == ["Cast"]  # the If's branches are not its nodes


def test_node_outputs_and_constant_names() -> None:
    graph = walk_model().graph
    assert node_outputs(graph) == ["shape", "cast", "ids", "rows", "negated", "chosen"]
    assert constant_names(graph) == {"shape", "table"}


def test_walks_reach_into_subgraphs() -> None:
    graph = walk_model().graph
    assert [n.op_type for n in walk_nodes(graph)] == [
        "Constant",
        "Cast",
        "Reshape",
        "Gather",
        "Neg",
        "If",
        "Abs",  # onnx.helper orders attributes by name: else_branch, then_branch
        "Identity",
    ]
    assert [g.name for g in walk_graphs(graph)] == ["g", "else", "then"]
    assert [has_subgraph(n) for n in graph.node] == [False] * 5 + [True]


def test_pass_through_aliases_follow_first_inputs_of_the_named_ops() -> None:
    graph = walk_model().graph
    assert pass_through_aliases(graph, "x", {"Cast", "Reshape"}) == {"x", "cast", "ids"}
    assert pass_through_aliases(graph, "x", {"Cast"}) == {"x", "cast"}
    assert pass_through_aliases(graph, "shape", {"Reshape"}) == {"shape"}  # its second input


def test_add_initializer_also_declares_an_input_before_ir_4() -> None:
    tensor = numpy_helper.from_array(np.ones(2, np.float32), "c")
    modern, legacy = model_with([("", 17)]), model_with([("", 8)], ir_version=3)
    add_initializer(modern, tensor)
    add_initializer(legacy, tensor)
    assert [t.name for t in modern.graph.initializer] == ["c"]
    assert [i.name for i in modern.graph.input] == ["x"]
    assert [i.name for i in legacy.graph.input] == ["x", "c"]


def test_copy_model_is_independent() -> None:
    model = model_with([("", 17)])
    copy = copy_model(model)
    copy.graph.node[0].op_type = "Neg"
    assert model.graph.node[0].op_type == "Relu"
