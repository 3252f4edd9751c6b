"""Gelu-20 (erf and tanh forms) matches onnxruntime and passes gradients."""

from __future__ import annotations

import onnx
import pytest
from onnx import helper

from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    convert,
    make_model,
    randn,
    value,
)


def _gelu(**attrs: str) -> onnx.ModelProto:
    node = helper.make_node("Gelu", ["x"], ["y"], **attrs)
    return make_model([node], [value("x", shape=[2, 3, 5])], [value("y")], opset=20)


@pytest.mark.parametrize("attrs", [{}, {"approximate": "none"}, {"approximate": "tanh"}])
def test_gelu_matches_onnxruntime(attrs: dict[str, str]) -> None:
    model = _gelu(**attrs)
    feeds = {"x": 3 * randn(2, 3, 5)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


def test_gelu_refuses_an_unknown_approximation() -> None:
    with pytest.raises(NotImplementedError, match="approximate='fast'"):
        convert(_gelu(approximate="fast"))
