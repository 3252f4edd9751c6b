"""Every NEWER_VERSION_ALIASES entry converts a model at that since-version and matches
onnxruntime; guarded aliases refuse the nodes that use what the newer version added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from harness.twin.converters.aliases import NEWER_VERSION_ALIASES
from tests.twin.test_converters_support import (
    assert_grads_flow,
    assert_parity,
    convert,
    init,
    make_model,
    randn,
    value,
)

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
Case = tuple[list[onnx.NodeProto], list[Any], list[Any], list[onnx.TensorProto], dict[str, Any]]


def _unary(op: str, low: float = -2.0, high: float = 2.0, **attrs: Any) -> Case:
    x = np.random.default_rng(0).uniform(low, high, (2, 3, 4)).astype(np.float32)
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    return [node], [value("x", F, x.shape)], [value("y", F, None)], [], {"x": x}


def _cast() -> Case:
    nodes, inputs, _, inits, feeds = _unary("Cast", to=TensorProto.DOUBLE)
    return nodes, inputs, [value("y", TensorProto.DOUBLE)], inits, feeds


def _compare(op: str) -> Case:
    a, b = randn(2, 3, seed=1), randn(2, 3, seed=2)
    b[0] = a[0]  # ties, where the *OrEqual ops differ from the strict ones
    node = helper.make_node(op, ["a", "b"], ["y"])
    return (
        [node],
        [value("a", F, [2, 3]), value("b", F, [2, 3])],
        [value("y", BOOL)],
        [],
        {
            "a": a,
            "b": b,
        },
    )


def _with_x(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    shape: list[int],
    out_type: int = F,
) -> Case:
    x = randn(*shape)
    return nodes, [value("x", F, shape)], [value("y", out_type)], inits, {"x": x}


def _constant() -> Case:
    c = helper.make_tensor("c", F, [3], [1.0, -2.0, 0.5])
    nodes = [
        helper.make_node("Constant", [], ["c"], value=c),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    return _with_x(nodes, [], [2, 3])


def _constant_of_shape() -> Case:
    fill = helper.make_tensor("v", F, [1], [1.5])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"], value=fill),
        helper.make_node("Mul", ["x", "c"], ["y"]),
    ]
    return _with_x(nodes, [], [2, 3])


def _is_special(op: str) -> Case:
    x = np.array([1.0, np.inf, -np.inf, np.nan, 0.0], np.float32)
    node = helper.make_node(op, ["x"], ["y"])
    return [node], [value("x", F, [5])], [value("y", BOOL)], [], {"x": x}


def _conv(op: str) -> Case:
    w_shape = (3, 2, 3, 3) if op == "Conv" else (2, 3, 3, 3)
    node = helper.make_node(op, ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return _with_x(
        [node], [init("w", randn(*w_shape, seed=3)), init("b", randn(3, seed=4))], [1, 2, 5, 5]
    )


def _pool(op: str, **attrs: Any) -> Case:
    return _with_x([helper.make_node(op, ["x"], ["y"], **attrs)], [], [1, 2, 6, 6])


def _instance_norm() -> Case:
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"])
    return _with_x([node], [init("s", randn(2, seed=5)), init("b", randn(2, seed=6))], [1, 2, 4, 4])


def _eye_like() -> Case:
    return _with_x([helper.make_node("EyeLike", ["x"], ["y"], k=1)], [], [3, 4])


def _roi_align() -> Case:
    x = randn(1, 2, 8, 8)
    rois = np.array([[0.5, 1.0, 6.0, 7.0]], np.float32)
    node = helper.make_node(
        "RoiAlign", ["x", "rois", "idx"], ["y"], output_height=2, output_width=2, sampling_ratio=2
    )
    idx = np.zeros(1, np.int64)
    return (
        [node],
        [value("x", F, x.shape), value("rois", F, rois.shape), value("idx", I64, [1])],
        [value("y", F)],
        [],
        {"x": x, "rois": rois, "idx": idx},
    )


def _topk() -> Case:
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1)
    x = randn(2, 6)
    return (
        [node],
        [value("x", F, [2, 6])],
        [value("v", F), value("i", I64)],
        [init("k", np.array([3], np.int64))],
        {"x": x},
    )


def _resize() -> Case:
    node = helper.make_node(
        "Resize",
        ["x", "", "scales"],
        ["y"],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return _with_x([node], [init("scales", np.array([1, 1, 2, 2], np.float32))], [1, 2, 3, 3])


def _scatter_nd() -> Case:
    node = helper.make_node("ScatterND", ["x", "idx", "upd"], ["y"])
    inits = [init("idx", np.array([[1], [3]], np.int64)), init("upd", randn(2, 3, seed=7))]
    return _with_x([node], inits, [4, 3])


_BUILDERS: dict[str, Callable[[], Case]] = {
    "GreaterOrEqual": lambda: _compare("GreaterOrEqual"),
    "LessOrEqual": lambda: _compare("LessOrEqual"),
    "Equal": lambda: _compare("Equal"),
    "Identity": lambda: _unary("Identity"),
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Shape": lambda: _with_x(
        [helper.make_node("Shape", ["x"], ["y"], start=1)], [], [2, 3, 4], I64
    ),
    "Transpose": lambda: _with_x(
        [helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1])], [], [2, 3, 4]
    ),
    "Unsqueeze": lambda: _with_x(
        [helper.make_node("Unsqueeze", ["x", "ax"], ["y"])], [init("ax", np.array([0, -1]))], [2, 3]
    ),
    "Squeeze": lambda: _with_x(
        [helper.make_node("Squeeze", ["x", "ax"], ["y"])], [init("ax", np.array([1]))], [2, 1, 3]
    ),
    "Cast": _cast,
    "IsInf": lambda: _is_special("IsInf"),
    "IsNaN": lambda: _is_special("IsNaN"),
    "Conv": lambda: _conv("Conv"),
    "ConvTranspose": lambda: _conv("ConvTranspose"),
    "MaxPool": lambda: _pool("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "AveragePool": lambda: _pool("AveragePool", kernel_shape=[2, 2], strides=[2, 2]),
    "GlobalAveragePool": lambda: _pool("GlobalAveragePool"),
    "InstanceNormalization": _instance_norm,
    "Dropout": lambda: _unary("Dropout"),
    "HardSigmoid": lambda: _unary("HardSigmoid", -4.0, 4.0),
    "HardSwish": lambda: _unary("HardSwish", -4.0, 4.0),
    "Elu": lambda: _unary("Elu"),
    "Selu": lambda: _unary("Selu"),
    "Softplus": lambda: _unary("Softplus"),
    "Softsign": lambda: _unary("Softsign"),
    "Round": lambda: _unary("Round", -3.0, 3.0),
    "Sin": lambda: _unary("Sin"),
    "Cos": lambda: _unary("Cos"),
    "Tan": lambda: _unary("Tan", -1.2, 1.2),
    "Asin": lambda: _unary("Asin", -0.9, 0.9),
    "Acos": lambda: _unary("Acos", -0.9, 0.9),
    "Atan": lambda: _unary("Atan"),
    "EyeLike": _eye_like,
    "RoiAlign": _roi_align,
    "TopK": _topk,
    "Resize": _resize,
    "ScatterND": _scatter_nd,
}

# Ops whose output does not depend smoothly on a float input (or has no float input).
_NO_GRADIENT = {
    "GreaterOrEqual", "LessOrEqual", "Equal", "Shape", "IsInf", "IsNaN", "Round", "EyeLike",
    "Constant", "ConstantOfShape",
}  # fmt: skip

# onnxruntime 1.32 has no kernel for these versions; the twin is compared against
# onnxruntime running the same graph at the base version (the spec says they are equal).
_ORT_LACKS = {("RoiAlign", 22)}

_CASES = [(a.op_type, v) for a in NEWER_VERSION_ALIASES for v in a.versions]


def test_every_alias_has_a_builder() -> None:
    assert {op for op, _ in _CASES} <= set(_BUILDERS)


@pytest.mark.parametrize(("op_type", "version"), _CASES, ids=[f"{o}-{v}" for o, v in _CASES])
def test_alias_matches_onnxruntime(op_type: str, version: int) -> None:
    nodes, inputs, outputs, inits, feeds = _BUILDERS[op_type]()
    model = make_model(nodes, inputs, outputs, inits, opset=version)
    reference = None
    if (op_type, version) in _ORT_LACKS:
        base = next(a.base_version for a in NEWER_VERSION_ALIASES if a.op_type == op_type)
        reference = make_model(nodes, inputs, outputs, inits, opset=base)
    twin = assert_parity(model, feeds, reference=reference)
    if op_type not in _NO_GRADIENT:
        assert_grads_flow(twin, model, feeds, wrt=["x"] if op_type == "RoiAlign" else None)


@pytest.mark.parametrize(
    ("op_type", "version", "attrs", "match"),
    [
        ("AveragePool", 19, {"kernel_shape": [2, 2], "dilations": [2, 2]}, "dilations"),
        ("Resize", 18, {"mode": "linear", "antialias": 1}, "antialias"),
        ("Resize", 19, {"coordinate_transformation_mode": "half_pixel_symmetric"}, "symmetric"),
        ("ScatterND", 18, {"reduction": "max"}, "reduction"),
    ],
)
def test_guarded_alias_refuses_what_the_newer_version_added(
    op_type: str, version: int, attrs: dict[str, Any], match: str
) -> None:
    nodes, inputs, outputs, inits, _ = _BUILDERS[op_type]()
    node = nodes[0]
    base = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    base = {k: v.decode() if isinstance(v, bytes) else v for k, v in base.items()}
    nodes[0] = helper.make_node(op_type, list(node.input), list(node.output), **{**base, **attrs})
    model = make_model(nodes, inputs, outputs, inits, opset=version)
    with pytest.raises(NotImplementedError, match=match):
        convert(model)
