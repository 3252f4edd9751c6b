"""What onnx2torch does with the cases this package cannot take over, because onnx2torch
already registers those op versions (add_converter refuses a second registration):
Clip-11/12/13 with computed bounds and Reshape-5/13/14 with allowzero=1 are refused with
NotImplementedError, never converted into a different model. Reshape-19+ and Flatten-21+
are this package's (see test_converters_shapes)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.twin.test_converters_support import (
    assert_parity,
    convert,
    init,
    make_model,
    randn,
    value,
)


def test_clip_with_computed_bounds_is_refused_by_onnx2torch() -> None:
    nodes = [
        helper.make_node("ReduceMin", ["x"], ["lo"], keepdims=0),
        helper.make_node("Clip", ["x", "lo", "hi"], ["y"]),
    ]
    model = make_model(
        nodes, [value("x", shape=[2, 3])], [value("y")], [init("hi", np.array(0.5, np.float32))],
        opset=17,
    )  # fmt: skip
    with pytest.raises(NotImplementedError, match="Dynamic value of min/max"):
        convert(model)


def test_clip_with_constant_bounds_matches_onnxruntime() -> None:
    node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    inits = [init("lo", np.array(-0.5, np.float32)), init("hi", np.array(0.5, np.float32))]
    model = make_model([node], [value("x", shape=[2, 3])], [value("y")], inits, opset=17)
    assert_parity(model, {"x": randn(2, 3)})


def test_reshape_14_with_allowzero_is_refused_by_onnx2torch() -> None:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)
    model = make_model(
        [node], [value("x", shape=[2, 3])], [value("y")], [init("shape", np.array([3, 2]))],
        opset=17,
    )  # fmt: skip
    with pytest.raises(NotImplementedError, match="allowzero"):
        convert(model)
