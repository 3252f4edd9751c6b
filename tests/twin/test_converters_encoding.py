"""OneHot-9/11 match onnxruntime: axes, negative and out-of-range indices, depth as a
scalar or one element, the values' type; and an integer Clip keeps the ids integers."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from harness.twin.prepare import rewrite_dynamic_clip
from tests.twin.test_converters_support import assert_parity, init, make_model, value

I64 = TensorProto.INT64


@pytest.mark.parametrize("opset", [9, 11, 18])
@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
@pytest.mark.parametrize("depth_shape", [(), (1,)])
def test_one_hot_matches_onnxruntime(opset: int, axis: int, depth_shape: tuple[int, ...]) -> None:
    node = helper.make_node("OneHot", ["ids", "depth", "values"], ["y"], axis=axis)
    model = make_model(
        [node],
        [value("ids", I64, (2, 5))],
        [value("y")],
        [
            init("depth", np.full(depth_shape, 6, np.int64)),
            init("values", np.array([-0.5, 2.0], np.float32)),
        ],
        opset=opset,
    )
    # In range, negative (counted from the end) and outside [-6, 6): an all-off row.
    ids = np.array([[0, 5, -1, -6, 7], [3, -7, 2, 1, 4]], np.int64)
    assert_parity(model, {"ids": ids})


def test_one_hot_of_integer_values_keeps_their_type() -> None:
    node = helper.make_node("OneHot", ["ids", "depth", "values"], ["y"])
    model = make_model(
        [node],
        [value("ids", I64, (3,))],
        [value("y", I64)],
        [init("depth", np.array(4, np.int64)), init("values", np.array([0, 1], np.int64))],
        opset=11,
    )
    assert_parity(model, {"ids": np.array([0, 3, 1], np.int64)})


def test_a_clip_of_ids_with_integer_bounds_stays_integer() -> None:
    node = helper.make_node("Clip", ["ids", "low", "high"], ["y"])
    model = make_model(
        [node],
        [value("ids", I64, (2, 4))],
        [value("y", I64)],
        [init("low", np.array(0, np.int64)), init("high", np.array(9, np.int64))],
        opset=13,
    )
    rewritten, step = rewrite_dynamic_clip(model)
    assert step.changed == 1
    assert [n.op_type for n in rewritten.graph.node] == ["Max", "Min"]
    assert_parity(rewritten, {"ids": np.array([[-3, 0, 5, 12], [9, 10, 1, -1]], np.int64)})
