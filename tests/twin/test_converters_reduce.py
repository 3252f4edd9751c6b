"""Reduce*-18 (axes as an input) and ReduceMax/ReduceMin-20 against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    init,
    make_model,
    value,
)

_OPS = [
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSumSquare",
]  # fmt: skip

# axes (None: input absent), keepdims, noop_with_empty_axes
_VARIANTS = [
    ([1], 1, 0),
    ([0, -1], 0, 0),
    (None, 1, 0),
    (None, 0, 0),
    ([], 0, 0),  # empty axes input: every axis
    (None, 1, 1),  # noop: the input unchanged
]


def _model(
    op: str, axes: list[int] | None, keepdims: int, noop: int, opset: int
) -> onnx.ModelProto:
    inputs, inits = ["x"], []
    if axes is not None:
        inputs.append("axes")
        inits.append(init("axes", np.array(axes, np.int64)))
    node = helper.make_node(op, inputs, ["y"], keepdims=keepdims, noop_with_empty_axes=noop)
    return make_model([node], [value("x", shape=[2, 3, 4])], [value("y")], inits, opset=opset)


@pytest.mark.parametrize(("axes", "keepdims", "noop"), _VARIANTS)
@pytest.mark.parametrize("op", _OPS)
def test_reduce_18_matches_onnxruntime(
    op: str, axes: list[int] | None, keepdims: int, noop: int
) -> None:
    model = _model(op, axes, keepdims, noop, opset=18)
    # positive values keep ReduceLogSum finite; spread keeps ReduceProd away from 0
    feeds = {"x": np.random.default_rng(0).uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_max_min_20_on_bool_match_onnxruntime(op: str) -> None:
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)
    model = make_model(
        [node],
        [value("x", TensorProto.BOOL, [2, 3])],
        [value("y", TensorProto.BOOL)],
        [init("axes", np.array([1], np.int64))],
        opset=20,
    )
    x = np.array([[True, False, True], [False, False, False]])
    assert_parity(model, {"x": x})


def test_reduce_max_20_on_float_matches_onnxruntime() -> None:
    model = _model("ReduceMax", [0, 2], 1, 0, opset=20)
    feeds = {"x": np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)
