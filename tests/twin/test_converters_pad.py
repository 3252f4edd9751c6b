"""Pad-18+ (axes input, negative pads, wrap) in every mode on any axes, against onnxruntime;
and what onnx2torch's own Pad-13 does with reflect/edge, which this package cannot replace."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    convert,
    init,
    make_model,
    randn,
    value,
)


def _pad_model(
    shape: tuple[int, ...],
    pads: list[int],
    mode: str,
    opset: int,
    axes: list[int] | None = None,
    constant: float | None = None,
) -> onnx.ModelProto:
    inputs = ["x", "pads", "" if constant is None else "cval"]
    inits = [init("pads", np.array(pads, np.int64))]
    if constant is not None:
        inits.append(init("cval", np.array(constant, np.float32)))
    if axes is not None:
        inputs.append("axes")
        inits.append(init("axes", np.array(axes, np.int64)))
    while inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("Pad", inputs, ["y"], mode=mode)
    return make_model([node], [value("x", shape=shape)], [value("y")], inits, opset=opset)


# Reflect pads stay below the axis length, as onnxruntime requires.
_CASES = [
    # shape, pads, axes
    ((2, 5), [1, 2, 1, 3], None),  # 2-D, both axes
    ((2, 5), [2, 3], [1]),  # 2-D, last axis only (onnx2torch's Pad-13 raises here)
    ((1, 2, 4, 5), [1, 2, 2, 1], [2, -1]),  # NCHW spatial, negative axis
    ((3, 4, 5), [1, 0, 2, 2, 1, 0], None),  # padding the batch axis too
    ((2, 3, 4), [0, 3], [2]),  # one axis, end only
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize(("shape", "pads", "axes"), _CASES)
def test_pad_matches_onnxruntime(
    mode: str, shape: tuple[int, ...], pads: list[int], axes: list[int] | None
) -> None:
    model = _pad_model(shape, pads, mode, opset=19, axes=axes)
    feeds = {"x": randn(*shape)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


@pytest.mark.parametrize("opset", [18, 21])
def test_pad_constant_value_and_cropping_match_onnxruntime(opset: int) -> None:
    model = _pad_model((2, 3, 4), [1, -1, 2, -1], "constant", opset, axes=[1, 2], constant=2.5)
    feeds = {"x": randn(2, 3, 4)}
    twin = assert_parity(model, feeds)
    assert_grads_flow(twin, model, feeds)


def test_pad_18_refuses_an_unknown_mode() -> None:
    with pytest.raises(NotImplementedError, match="mode='mirror'"):
        convert(_pad_model((2, 3), [1, 1, 1, 1], "mirror", 18))


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_onnx2torch_pad_13_reflect_and_edge_match_on_nchw_spatial_axes(mode: str) -> None:
    model = _pad_model((1, 2, 4, 5), [0, 0, 1, 2, 0, 0, 2, 1], mode, opset=13)
    assert_parity(model, {"x": randn(1, 2, 4, 5)})


def test_onnx2torch_pad_13_reflect_on_a_2d_input_fails_loudly() -> None:
    """Pad-13 is onnx2torch's and cannot be replaced; it raises rather than mis-pads."""
    model = _pad_model((2, 5), [0, 2, 0, 3], "reflect", opset=13)
    twin = convert(model)
    with pytest.raises(RuntimeError, match="padding"):
        twin(torch.from_numpy(randn(2, 5)))
