"""Graph preparation: each step exact (same onnxruntime outputs), counted, and guarded."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from harness.twin import prepare as prepare_module
from harness.twin.prepare import (
    add_value_info,
    expose_outputs,
    fold_constants,
    inline_functions,
    lift_constants,
    prepare,
    rewrite_dynamic_clip,
    rewrite_flatten_edges,
    rewrite_reshape_allowzero,
    trim_optional,
)

RNG = np.random.default_rng(0)


def model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(proto, full_check=True)
    return proto


def floats(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def run(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(proto.SerializeToString(), options)
    return [np.asarray(v) for v in session.run(None, feeds)]


def twin_run(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """onnx2torch's module for ``proto`` (the harness's converters registered) run on
    ``feeds``; its outputs in graph order (one per graph output here)."""
    from onnx2torch import convert

    from harness.twin.converters import register_all

    register_all()
    module = convert(proto).eval()
    initializers = {t.name for t in proto.graph.initializer}
    names = [i.name for i in proto.graph.input if i.name not in initializers]
    with torch.no_grad():
        values = module(*(torch.from_numpy(feeds[n]) for n in names))
    values = values if isinstance(values, tuple | list) else (values,)
    return [v.numpy() for v in values]


def assert_same(before: list[np.ndarray], after: list[np.ndarray]) -> None:
    assert len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        assert b.shape == a.shape and b.dtype == a.dtype
        np.testing.assert_array_equal(b, a)


def ints(name: str, values: list[int]) -> TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def ops(proto: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def initializer(proto: onnx.ModelProto, name: str) -> np.ndarray:
    tensor = next(t for t in proto.graph.initializer if t.name == name)
    return numpy_helper.to_array(tensor)


@pytest.fixture
def constants_model() -> onnx.ModelProto:
    """x (batch,6) -> Reshape(x, shape) * scale + bias; scale, bias and shape are Constant
    nodes of three kinds (value tensor, value_float, value_ints), and one Constant is an
    output of its own."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], value_ints=[-1, 2, 3]),
        helper.make_node("Constant", [], ["scale"], value_float=2.0),
        helper.make_node(
            "Constant", [], ["bias"], value=numpy_helper.from_array(np.arange(3, dtype=np.float32))
        ),
        helper.make_node("Constant", [], ["tag"], value_int=7),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Mul", ["r", "scale"], ["m"]),
        helper.make_node("Add", ["m", "bias"], ["y"]),
    ]
    outputs = [
        floats("y", ["batch", 2, 3]),
        helper.make_tensor_value_info("tag", TensorProto.INT64, []),
    ]
    return model(nodes, [floats("x", ["batch", 6])], outputs)


# ------------------------------------------------------------------------ lift_constants


def test_lift_constants_turns_constant_nodes_into_initializers(
    constants_model: onnx.ModelProto,
) -> None:
    lifted, step = lift_constants(constants_model)

    assert step.name == "lift_constants" and step.changed == 3
    assert ops(lifted) == ["Constant", "Reshape", "Mul", "Add"]  # 'tag' is a graph output
    np.testing.assert_array_equal(initializer(lifted, "shape"), [-1, 2, 3])
    assert initializer(lifted, "scale").dtype == np.float32
    assert initializer(lifted, "scale").shape == ()
    np.testing.assert_array_equal(initializer(lifted, "bias"), [0, 1, 2])
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    for before, after in zip(run(constants_model, {"x": x}), run(lifted, {"x": x}), strict=True):
        np.testing.assert_array_equal(before, after)
    assert ops(constants_model)[0] == "Constant"  # the input graph is left alone


def test_lift_constants_with_nothing_to_lift_changes_nothing() -> None:
    proto = model([helper.make_node("Relu", ["x"], ["y"])], [floats("x", [2])], [floats("y", [2])])
    lifted, step = lift_constants(proto)
    assert step.changed == 0 and lifted is proto


# ------------------------------------------------------------------------ fold_constants


def test_fold_constants_folds_the_chain_that_computes_a_reshape_shape() -> None:
    """Constant -> Mul -> Concat -> Cast is the Reshape's shape; Transpose of a weight
    initializer folds too; Reshape itself depends on x and stays."""
    weight = RNG.standard_normal((2, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["half"], value_ints=[1]),
        helper.make_node("Mul", ["half", "two"], ["rows"]),
        helper.make_node("Concat", ["minus_one", "rows"], ["shape_f"], axis=0),
        helper.make_node("Cast", ["shape_f"], ["shape"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        helper.make_node("MatMul", ["r", "wt"], ["y"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([3], np.int64), "two"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
        numpy_helper.from_array(weight, "w"),
    ]
    proto = model(nodes, [floats("x", ["batch", 3])], [floats("y", ["n", 2])], initializers)
    lifted, _ = lift_constants(proto)

    folded, step = fold_constants(lifted)

    assert step.changed == 4  # Mul, Concat, Cast, Transpose
    assert ops(folded) == ["Reshape", "MatMul"]
    np.testing.assert_array_equal(initializer(folded, "shape"), [-1, 3])
    np.testing.assert_array_equal(initializer(folded, "wt"), weight.T)
    names = {t.name for t in folded.graph.initializer}
    assert {"w", "two", "half", "shape_f"}.isdisjoint(names)  # orphans removed
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(run(folded, {"x": x})[0], run(proto, {"x": x})[0], rtol=1e-6)


def test_fold_constants_folds_shape_of_a_static_tensor_only() -> None:
    nodes = [
        helper.make_node("Shape", ["s"], ["static_shape"]),
        helper.make_node("Shape", ["x"], ["dynamic_shape"]),
        helper.make_node("Reshape", ["x", "dynamic_shape"], ["x2"]),
        helper.make_node("Reshape", ["x2", "static_shape"], ["y"]),
    ]
    proto = model(nodes, [floats("x", ["batch", 6]), floats("s", [3, 2])], [floats("y", [3, 2])])

    folded, step = fold_constants(proto)

    assert step.changed == 1
    np.testing.assert_array_equal(initializer(folded, "static_shape"), [3, 2])
    assert ops(folded) == ["Shape", "Reshape", "Reshape"]


def test_fold_constants_with_nothing_to_fold_changes_nothing(
    constants_model: onnx.ModelProto,
) -> None:
    folded, step = fold_constants(constants_model)  # constants are still nodes: no initializers
    assert step.changed == 0 and step.detail == "no constant subgraphs to fold"
    assert ops(folded) == ops(constants_model)


# ---------------------------------------------------------------------------- value_info


def test_value_info_adds_ranks_and_static_shapes_from_inference(
    constants_model: onnx.ModelProto,
) -> None:
    proto, _ = lift_constants(constants_model)

    described, step = add_value_info(proto, [])

    assert step.changed == 2  # r and m; y is a graph output, described already
    shapes = {v.name: v.type.tensor_type.shape for v in described.graph.value_info}
    assert [d.dim_value for d in shapes["r"].dim][1:] == [2, 3]  # rows: -1, so not 'batch'
    assert len(shapes["m"].dim) == 3


def test_value_info_observes_ranks_inference_cannot_give() -> None:
    """Reshape to a shape read from an input of unknown length: inference gives no rank;
    one onnxruntime pass per input size does (rows vary with the batch, columns do not)."""
    nodes = [
        helper.make_node("Squeeze", ["target", "zero"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
    inputs = [
        floats("x", ["batch", 6]),
        helper.make_tensor_value_info("target", TensorProto.INT64, [1, "k"]),
    ]
    proto = model(nodes, inputs, [floats("y", ["rows", "columns"])], [zero])
    target = np.array([[-1, 3]], np.int64)
    sets = [
        {"x": np.zeros((2, 6), np.float32), "target": target},
        {"x": np.zeros((3, 6), np.float32), "target": target},
    ]

    described, step = add_value_info(proto, sets)

    assert "1 ranks observed with onnxruntime, 0 left without rank" in step.detail
    info = {v.name: v for v in described.graph.value_info}
    dims = info["r"].type.tensor_type.shape.dim
    assert len(dims) == 2
    assert not dims[0].HasField("dim_value") and dims[1].dim_value == 3
    assert info["r"].type.tensor_type.elem_type == TensorProto.FLOAT
    np.testing.assert_array_equal(run(described, sets[0])[0], run(proto, sets[0])[0])


# ------------------------------------------------------------------------- other steps


def test_trim_optional_drops_trailing_empty_inputs() -> None:
    nodes = [helper.make_node("Clip", ["x", "low", ""], ["y"])]
    low = numpy_helper.from_array(np.array(0.5, np.float32), "low")
    proto = model(nodes, [floats("x", [3])], [floats("y", [3])], [low])

    trimmed, step = trim_optional(proto)

    assert step.changed == 1 and list(trimmed.graph.node[0].input) == ["x", "low"]
    x = np.array([0.0, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(run(trimmed, {"x": x})[0], run(proto, {"x": x})[0])
    assert trim_optional(trimmed)[1].changed == 0


def test_expose_outputs_puts_an_identity_before_an_input_handed_out() -> None:
    proto = model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [floats("x", [2])],
        [floats("y", [2]), floats("x", [2])],
    )
    exposed, step = expose_outputs(proto)
    assert step.changed == 1 and ops(exposed) == ["Relu", "Identity"]
    assert [o.name for o in exposed.graph.output] == ["y", "x__twin_output"]


def test_inline_functions_without_functions_changes_nothing(
    constants_model: onnx.ModelProto,
) -> None:
    inlined, step = inline_functions(constants_model)
    assert step.changed == 0 and inlined is constants_model


def test_inline_functions_inlines_local_function_calls() -> None:
    body = [helper.make_node("Relu", ["a"], ["b"])]
    function = helper.make_function(
        "local", "MyRelu", ["a"], ["b"], body, [helper.make_opsetid("", 17)]
    )
    graph = helper.make_graph(
        [helper.make_node("MyRelu", ["x"], ["y"], domain="local")],
        "g",
        [floats("x", [2])],
        [floats("y", [2])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    proto = helper.make_model(graph, opset_imports=opsets, functions=[function])

    inlined, step = inline_functions(proto)

    assert step.changed == 1 and ops(inlined) == ["Relu"]


# ------------------------------------------------------------- rewrite_reshape_allowzero


def reshape_model(shape_nodes, shape: str, initializers=(), inputs=(), rank: int = 3):  # type: ignore[no-untyped-def]
    """x (batch, 6) -> Reshape(x, shape, allowzero=1) -> y of ``rank``, at opset 18 (dynamo's)."""
    nodes = [*shape_nodes, helper.make_node("Reshape", ["x", shape], ["y"], allowzero=1)]
    inputs = [floats("x", ["batch", 6]), *inputs]
    return model(nodes, inputs, [floats("y", [None] * rank)], initializers, opset=18)


def batch_sets(*batches: int) -> list[dict[str, np.ndarray]]:
    return [{"x": RNG.standard_normal((b, 6)).astype(np.float32)} for b in batches]


def test_reshape_allowzero_with_a_constant_shape_without_zero_is_rewritten() -> None:
    proto = reshape_model([], "shape", [ints("shape", [-1, 2, 3])])

    rewritten, step = rewrite_reshape_allowzero(proto, [])

    assert step.changed == 1 and "(shape without 0: 1 constant," in step.detail
    assert helper.get_node_attr_value(rewritten.graph.node[0], "allowzero") == 0
    assert helper.get_node_attr_value(proto.graph.node[0], "allowzero") == 1  # a copy
    with pytest.raises(NotImplementedError, match="allowzero"):
        twin_run(proto, batch_sets(2)[0])
    for feeds in batch_sets(2, 5):
        assert_same(run(proto, feeds), run(rewritten, feeds))
        np.testing.assert_array_equal(twin_run(rewritten, feeds)[0], run(proto, feeds)[0])


def test_reshape_allowzero_with_a_computed_shape_is_rewritten_when_observed_without_zero() -> None:
    """dynamo's pattern: the shape is Concat(Shape(x)[0], constants); whether it holds a 0
    depends on the batch, so it is computed at both audit sizes."""
    shape_nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"], end=1),
        helper.make_node("Concat", ["x_shape", "tail"], ["shape"], axis=0),
    ]
    proto = reshape_model(shape_nodes, "shape", [ints("tail", [2, 3])])
    sets = batch_sets(2, 5)

    rewritten, step = rewrite_reshape_allowzero(proto, sets)

    assert step.changed == 1
    assert "0 constant, 0 by shape inference, 1 observed at 2 input sizes" in step.detail
    assert helper.get_node_attr_value(rewritten.graph.node[-1], "allowzero") == 0
    for feeds in sets:
        assert_same(run(proto, feeds), run(rewritten, feeds))
        np.testing.assert_array_equal(twin_run(rewritten, feeds)[0], run(proto, feeds)[0])
    # Without inputs to observe it at, nothing proves the shape: it stays.
    kept, step = rewrite_reshape_allowzero(proto, [])
    assert step.changed == 0 and kept is proto and "1 kept (shape unproven)" in step.detail


def test_reshape_allowzero_whose_shape_inference_fixes_is_rewritten_without_inputs() -> None:
    """The shape is Shape(s) of a static (3, 2) input: data propagation gives (3, 2)."""
    shape_nodes = [helper.make_node("Shape", ["s"], ["shape"])]
    proto = reshape_model(shape_nodes, "shape", inputs=[floats("s", [3, 2])], rank=2)

    rewritten, step = rewrite_reshape_allowzero(proto, [])

    assert step.changed == 1 and "1 by shape inference" in step.detail
    feeds = {"x": RNG.standard_normal((1, 6)).astype(np.float32), "s": np.zeros((3, 2), "f4")}
    assert_same(run(proto, feeds), run(rewritten, feeds))
    np.testing.assert_array_equal(twin_run(rewritten, feeds)[0], run(proto, feeds)[0])


def test_reshape_allowzero_with_a_zero_in_its_shape_stays() -> None:
    """A 0 in the shape (constant, or computed at an audit size) is a zero-size axis under
    allowzero=1 and 'copy the input's axis' under allowzero=0: never rewritten."""
    constant = reshape_model([], "shape", [ints("shape", [0, 6])], rank=2)
    kept, step = rewrite_reshape_allowzero(constant, [])
    assert step.changed == 0 and kept is constant and "1 kept (a 0 in the shape)" in step.detail

    target = helper.make_tensor_value_info("target", TensorProto.INT64, [2])
    computed = reshape_model(
        [helper.make_node("Identity", ["target"], ["shape"])], "shape", inputs=[target], rank=2
    )
    sets = [
        {"x": np.zeros((2, 6), np.float32), "target": np.array([-1, 3], np.int64)},
        {"x": np.zeros((0, 6), np.float32), "target": np.array([0, 6], np.int64)},
    ]
    kept, step = rewrite_reshape_allowzero(computed, sets)
    assert step.changed == 0 and kept is computed and "1 kept (a 0 in the shape)" in step.detail


def test_reshape_allowzero_without_the_pattern_changes_nothing(
    constants_model: onnx.ModelProto,
) -> None:
    proto = reshape_model([], "shape", [ints("shape", [-1, 2, 3])])
    del proto.graph.node[0].attribute[:]  # allowzero=0, the default
    for graph in (proto, constants_model):  # opset 18 without allowzero; opset 17
        kept, step = rewrite_reshape_allowzero(graph, batch_sets(2))
        assert step.changed == 0 and kept is graph


# ----------------------------------------------------------------- rewrite_flatten_edges


def flatten_model() -> onnx.ModelProto:
    """Flatten of a (batch, 3, 4) input at axes 0, 3 (its rank), -3 (0 again) and 1, and
    of a 1-D input at axis 1 (its rank, transformers' pooler pattern)."""
    nodes = [
        helper.make_node("Flatten", ["x"], ["first"], axis=0),
        helper.make_node("Flatten", ["x"], ["last"], axis=3),
        helper.make_node("Flatten", ["x"], ["negative"], axis=-3),
        helper.make_node("Flatten", ["x"], ["middle"], axis=1),
        helper.make_node("Flatten", ["v"], ["column"], axis=1),
    ]
    outputs = [floats(n, [None, None]) for n in ("first", "last", "negative", "middle", "column")]
    return model(nodes, [floats("x", ["batch", 3, 4]), floats("v", ["n"])], outputs)


def test_flatten_at_axis_0_or_rank_becomes_a_reshape() -> None:
    proto = flatten_model()
    feeds = {
        "x": RNG.standard_normal((2, 3, 4)).astype(np.float32),
        "v": RNG.standard_normal(5).astype(np.float32),
    }
    with pytest.raises(IndexError):
        twin_run(proto, feeds)

    rewritten, step = rewrite_flatten_edges(proto)

    assert step.changed == 4
    assert "2 axis 0 to (1, -1), 2 axis == rank to (-1, 1)" in step.detail
    assert ops(rewritten) == ["Reshape", "Reshape", "Reshape", "Flatten", "Reshape"]
    shapes = {t.name: numpy_helper.to_array(t).tolist() for t in rewritten.graph.initializer}
    assert sorted(shapes.values()) == [[-1, 1], [1, -1]]  # one initializer per shape
    assert [o.name for o in rewritten.graph.output] == [o.name for o in proto.graph.output]
    for batch in (2, 7):
        feeds["x"] = RNG.standard_normal((batch, 3, 4)).astype(np.float32)
        expected = run(proto, feeds)
        assert_same(expected, run(rewritten, feeds))
        assert_same(expected, twin_run(rewritten, feeds))
    assert rewrite_flatten_edges(rewritten)[1].changed == 0


def test_flatten_without_a_known_rank_or_at_an_inner_axis_stays() -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),  # no value_info: r has no rank here
        helper.make_node("Flatten", ["r"], ["y"], axis=0),
        helper.make_node("Flatten", ["x"], ["z"], axis=2),
    ]
    outputs = [floats("y", [1, None]), floats("z", [None, None])]
    proto = model(nodes, [floats("x", ["batch", 3, 4])], outputs)

    kept, step = rewrite_flatten_edges(proto)

    assert step.changed == 0 and kept is proto
    assert step.detail == "no Flatten with axis 0 or axis == rank (1 without a known rank)"
    described, _ = add_value_info(proto, [])
    assert rewrite_flatten_edges(described)[1].changed == 1  # once r has a rank


# ------------------------------------------------------------------ rewrite_dynamic_clip


def test_clip_with_computed_bounds_becomes_min_of_max() -> None:
    """Bounds that are graph inputs: both, the max only, and a computed max with a
    constant min; a Clip with constant bounds stays a Clip."""
    nodes = [
        helper.make_node("Clip", ["x", "low", "high"], ["both"]),
        helper.make_node("Clip", ["x", "", "high"], ["upper"]),
        helper.make_node("Clip", ["x", "zero", "high"], ["mixed"]),
        helper.make_node("Clip", ["x", "zero", "one"], ["fixed"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    inputs = [floats("x", ["batch", 5]), floats("low", []), floats("high", [])]
    outputs = [floats(n, ["batch", 5]) for n in ("both", "upper", "mixed", "fixed")]
    proto = model(nodes, inputs, outputs, initializers)

    rewritten, step = rewrite_dynamic_clip(proto)

    assert step.changed == 3
    assert ops(rewritten) == ["Max", "Min", "Min", "Max", "Min", "Clip"]
    assert [o.name for o in rewritten.graph.output] == ["both", "upper", "mixed", "fixed"]
    x = RNG.standard_normal((3, 5)).astype(np.float32) * 2
    for low, high in ((-0.5, 0.5), (0.7, -0.2)):  # crossed bounds: every value is max
        feeds = {"x": x, "low": np.array(low, np.float32), "high": np.array(high, np.float32)}
        expected = run(proto, feeds)
        assert_same(expected, run(rewritten, feeds))
        assert_same(expected, twin_run(rewritten, feeds))
    assert rewrite_dynamic_clip(rewritten)[1].changed == 0


def test_clip_with_constant_bounds_stays() -> None:
    low = numpy_helper.from_array(np.array(-1.0, np.float32), "low")
    proto = model(
        [helper.make_node("Clip", ["x", "low"], ["y"])],
        [floats("x", [3])],
        [floats("y", [3])],
        [low],
    )
    kept, step = rewrite_dynamic_clip(proto)
    assert step.changed == 0 and kept is proto


# ------------------------------------------------------------------------ expose_outputs


def test_expose_outputs_puts_an_identity_after_a_multi_output_node() -> None:
    """Split's first part is a graph output and is read by another node; its second part
    feeds a Relu. The graph output keeps its name; the Split's output is renamed."""
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["head", "tail"], axis=1),
        helper.make_node("Relu", ["tail"], ["relu"]),
        helper.make_node("Mul", ["head", "relu"], ["product"]),
    ]
    proto = model(
        nodes,
        [floats("x", ["batch", 4])],
        [floats("head", ["batch", 2]), floats("product", ["batch", 2])],
        [ints("sizes", [2, 2])],
    )
    x = RNG.standard_normal((3, 4)).astype(np.float32)

    exposed, step = expose_outputs(proto)

    assert step.changed == 1 and "1 outputs of multi-output nodes" in step.detail
    assert [o.name for o in exposed.graph.output] == ["head", "product"]
    assert list(exposed.graph.node[0].output) == ["head__twin_multi", "tail"]
    assert list(exposed.graph.node[2].input) == ["head__twin_multi", "relu"]
    assert ops(exposed) == ["Split", "Relu", "Mul", "Identity"]
    expected = run(proto, {"x": x})
    assert_same(expected, run(exposed, {"x": x}))
    assert_same(expected, twin_run(exposed, {"x": x}))
    assert expose_outputs(exposed)[1].changed == 0


def test_expose_outputs_with_every_output_from_a_single_output_node_changes_nothing(
    constants_model: onnx.ModelProto,
) -> None:
    lifted, _ = lift_constants(constants_model)
    kept, step = expose_outputs(lifted)
    assert step.changed == 0 and kept is lifted


# --------------------------------------------------------------------------- prepare


def test_prepare_runs_every_step_in_order(constants_model: onnx.ModelProto) -> None:
    x = RNG.standard_normal((2, 6)).astype(np.float32)
    prepared, steps = prepare(constants_model, [{"x": x}])

    assert [s.name for s in steps] == [
        "inline_functions",
        "trim_optional",
        "lift_constants",
        "fold_constants",
        "value_info",
        "rewrite_reshape_allowzero",
        "rewrite_flatten_edges",
        "rewrite_dynamic_clip",
        "expose_outputs",
    ]
    assert {s.name: s.changed for s in steps}["lift_constants"] == 3
    for before, after in zip(run(constants_model, {"x": x}), run(prepared, {"x": x}), strict=True):
        np.testing.assert_array_equal(before, after)


def test_a_step_that_breaks_the_graph_is_skipped_and_recorded(
    constants_model: onnx.ModelProto, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dangling(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, object]:
        broken = onnx.ModelProto()
        broken.CopyFrom(proto)
        broken.graph.node[-1].input[0] = "nowhere"
        return broken, prepare_module.PreparationStep("lift_constants", "broke it", 1)

    monkeypatch.setattr(prepare_module, "lift_constants", dangling)

    prepared, steps = prepare(constants_model, [])

    lift = next(s for s in steps if s.name == "lift_constants")
    assert lift.changed == 0 and lift.detail.startswith("skipped: ValidationError: ")
    assert "nowhere" in lift.detail
    assert prepared.graph.node[-1].input[0] == "m"


def test_a_step_that_raises_is_skipped_and_recorded(
    constants_model: onnx.ModelProto, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, object]:
        raise ValueError("cannot fold this\nsecond line")

    monkeypatch.setattr(prepare_module, "fold_constants", explode)
    _, steps = prepare(constants_model, [])
    fold = next(s for s in steps if s.name == "fold_constants")
    assert fold.detail == "skipped: ValueError: cannot fold this" and fold.changed == 0
