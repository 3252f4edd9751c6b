"""Reshape-19+ (allowzero), Flatten-21+ (1-D input, axis 0, negative axes), Split-18
(num_outputs, uneven, split input, one output) and Size match onnxruntime."""

from __future__ import annotations

import numpy as np
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

I64 = TensorProto.INT64


@pytest.mark.parametrize("opset", [19, 21])
@pytest.mark.parametrize(
    ("in_shape", "target", "allowzero"),
    [
        ((2, 3, 4), [0, -1], 0),  # 0 copies the input's axis
        ((2, 3, 4), [4, -1, 2], 1),  # no zero: same as allowzero=0
        ((2, 0, 4), [0, 5, 4], 1),  # 0 is a zero-size axis, not "copy"
        ((2, 3, 4), [6, 4], 1),
    ],
)
def test_reshape_matches_onnxruntime(
    opset: int, in_shape: tuple[int, ...], target: list[int], allowzero: int
) -> None:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=allowzero)
    model = make_model(
        [node],
        [value("x", shape=in_shape)],
        [value("y")],
        [init("shape", np.array(target, np.int64))],
        opset=opset,
    )
    feeds = {"x": randn(*in_shape)}
    twin = assert_parity(model, feeds)
    if 0 not in in_shape:
        assert_grads_flow(twin, model, feeds)


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((5,), 0), ((5,), 1), ((5,), -1), ((2, 3, 4), 0), ((2, 3, 4), 2), ((2, 3, 4), -1),
     ((2, 3, 4), 3)],
)  # fmt: skip
def test_flatten_21_matches_onnxruntime(shape: tuple[int, ...], axis: int) -> None:
    node = helper.make_node("Flatten", ["x"], ["y"], axis=axis)
    model = make_model([node], [value("x", shape=shape)], [value("y")], opset=21)
    feeds = {"x": randn(*shape)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


@pytest.mark.parametrize(("length", "n_out"), [(6, 3), (7, 3), (10, 4), (5, 1)])
def test_split_18_num_outputs_matches_onnxruntime(length: int, n_out: int) -> None:
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node("Split", ["x"], outs, axis=1, num_outputs=n_out)
    model = make_model([node], [value("x", shape=[2, length])], [value(o) for o in outs], opset=18)
    feeds = {"x": randn(2, length)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


def test_split_18_with_split_sizes_matches_onnxruntime() -> None:
    node = helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=-1)
    model = make_model(
        [node],
        [value("x", shape=[3, 9])],
        [value("a"), value("b"), value("c")],
        [init("sizes", np.array([2, 3, 4], np.int64))],
        opset=18,
    )
    assert_parity(model, {"x": randn(3, 9)})


def test_split_18_refuses_a_num_outputs_that_disagrees_with_the_node() -> None:
    node = helper.make_node("Split", ["x"], ["a", "b"], axis=0, num_outputs=3)
    model = make_model([node], [value("x", shape=[6])], [value("a"), value("b")], opset=18)
    with pytest.raises(NotImplementedError, match="num_outputs=3"):
        convert(model)


@pytest.mark.parametrize("opset", [13, 19, 21])
def test_size_matches_onnxruntime(opset: int) -> None:
    nodes = [helper.make_node("Size", ["x"], ["n"]), helper.make_node("Identity", ["n"], ["y"])]
    model = make_model(nodes, [value("x", shape=[2, 3, 4])], [value("y", I64, [])], opset=opset)
    assert_parity(model, {"x": randn(2, 3, 4)})
