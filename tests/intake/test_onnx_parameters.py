"""Parameters of an ONNX model: initializers, and weights an exporter stored as Constant
nodes (float tensors of at least 8 elements); scalars and shape data are not weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.intake.onnx_model import load_onnx, summarize_onnx, weight_tensors
from harness.testing.wild import work as wild


def summary_of(path: Path):
    return summarize_onnx(load_onnx(str(path)))


def test_constant_node_weights_count_as_parameters(tmp_path: Path) -> None:
    summary = summary_of(wild.build_constant_node_weights(tmp_path))
    n_in, n_hidden, n_out = wild.CONSTANT_MLP_IN, wild.CONSTANT_MLP_HIDDEN, wild.CONSTANT_MLP_OUT
    # W1, b1 and W2 as Constants, b2 as an initializer; not the 0.5, the 2.0, the target.
    expected = n_in * n_hidden + n_hidden + n_hidden * n_out + n_out
    assert expected == 874
    assert summary.parameter_count == expected
    assert summary.parameter_bytes == 4 * expected


def constant(name: str, values: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values, name))


@pytest.mark.parametrize(
    ("node", "counted"),
    [
        (constant("c", np.zeros(8, np.float32)), True),  # the smallest weight
        (constant("c", np.zeros((2, 2, 2), np.float16)), True),
        (constant("c", np.zeros(7, np.float32)), False),  # a handful: Resize scales and such
        (constant("c", np.array(0.5, np.float64)), False),  # a scalar
        (constant("c", np.arange(64, dtype=np.int64)), False),  # integers: shape data
        (helper.make_node("Constant", [], ["c"], value_floats=[0.0] * 16), False),  # no tensor
    ],
)
def test_which_constants_are_weights(node: onnx.NodeProto, counted: bool) -> None:
    graph = helper.make_graph(
        [node, helper.make_node("Identity", ["c"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
        [numpy_helper.from_array(np.zeros(3, np.float32), "unused_initializer")],
    )
    names = [t.name for t in weight_tensors(helper.make_model(graph))]
    assert names == (["unused_initializer", "c"] if counted else ["unused_initializer"])


def test_constants_inside_subgraphs_count_too() -> None:
    branch = helper.make_graph(
        [constant("w", np.ones((4, 4), np.float32))],
        "branch",
        [],
        [helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 4])],
    )
    node = helper.make_node("If", ["cond"], ["out"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4, 4])],
    )
    tensors = list(weight_tensors(helper.make_model(graph)))
    assert [t.name for t in tensors] == ["w", "w"]  # each branch holds its own copy
