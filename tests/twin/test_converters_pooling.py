"""GlobalMaxPool (1, 22) over 1-D, 2-D and 3-D spatial inputs."""

from __future__ import annotations

import pytest
from onnx import helper

from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    make_model,
    randn,
    value,
)


@pytest.mark.parametrize("opset", [17, 22])
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 5, 6), (1, 2, 3, 4, 5)])
def test_global_max_pool_matches_onnxruntime(opset: int, shape: tuple[int, ...]) -> None:
    node = helper.make_node("GlobalMaxPool", ["x"], ["y"])
    model = make_model([node], [value("x", shape=shape)], [value("y")], opset=opset)
    feeds = {"x": randn(*shape)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)
