"""to_torch: twins that match onnxruntime at two sizes, and every refusal with its reason."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from harness.core.errors import InputResolutionError
from harness.core.model import LoadedModel, TensorSpec
from harness.intake.onnx_model import load_onnx
from harness.testing import onnx_builders
from harness.twin import TorchTwin, Unconvertible, to_torch
from harness.twin import convert as convert_module
from harness.twin.parity import compare_output, input_sets, second_size

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("twin_models")


@pytest.fixture(scope="module")
def tiny_cnn(models_dir: Path) -> LoadedModel:
    return load_onnx(str(onnx_builders.tiny_cnn(models_dir)))


def pixels(batch: int = 2) -> dict[str, np.ndarray]:
    return {"pixels": RNG.random((batch, 1, 28, 28), dtype=np.float32)}


def converted(result: TorchTwin | Unconvertible) -> TorchTwin:
    assert isinstance(result, TorchTwin), result.report.reason
    return result


def save_and_load(model: onnx.ModelProto, path: Path) -> LoadedModel:
    onnx.save_model(model, str(path))
    return load_onnx(str(path))


# ---------------------------------------------------------------------- converted twins


def test_tiny_cnn_matches_at_two_batch_sizes(tiny_cnn: LoadedModel) -> None:
    twin = converted(to_torch(tiny_cnn, pixels(2)))

    report = twin.report
    assert report.status == "converted" and report.reason is None
    assert [c.input_shapes for c in report.parity] == [
        {"pixels": (2, 1, 28, 28)},
        {"pixels": (3, 1, 28, 28)},
    ]
    assert all(c.ok for c in report.parity)
    assert (report.rtol, report.atol) == (1e-3, 1e-5)
    assert twin.input_names == ("pixels",) and twin.output_names == ("logits",)
    assert not twin.module.training


def test_call_returns_a_tuple_and_forward_numpy_a_dict(tiny_cnn: LoadedModel) -> None:
    inputs = pixels(2)
    twin = converted(to_torch(tiny_cnn, inputs))

    outputs = twin(torch.from_numpy(inputs["pixels"]))
    assert isinstance(outputs, tuple) and len(outputs) == 1
    assert outputs[0].shape == (2, 10)
    arrays = twin.forward_numpy(inputs)
    np.testing.assert_allclose(arrays["logits"], outputs[0].detach().numpy(), rtol=1e-6)


class _BatchNormNet(nn.Module):
    """Conv -> ReLU -> BatchNorm (after the ReLU, so the exporter cannot fold it into the
    Conv) -> pooled linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 3)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.norm(torch.relu(self.conv(pixels)))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def batchnorm_model(models_dir: Path) -> LoadedModel:
    torch.manual_seed(0)
    net = _BatchNormNet()
    with torch.no_grad():  # running stats far from the batch's own, so train mode differs
        net.norm.running_mean.uniform_(1.0, 2.0)
        net.norm.running_var.uniform_(0.2, 0.5)
    path = models_dir / "batchnorm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net.eval(),
            (torch.rand(2, 1, 28, 28),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
        )
    return load_onnx(str(path))


def test_batchnorm_model_matches_because_the_twin_is_in_eval_mode(
    batchnorm_model: LoadedModel,
) -> None:
    assert "BatchNormalization" in {n.op_type for n in batchnorm_model.onnx_proto.graph.node}
    inputs = pixels(4)
    twin = converted(to_torch(batchnorm_model, inputs))
    assert len(twin.report.parity) == 2 and all(c.ok for c in twin.report.parity)

    # In training mode the same module normalises with the batch's statistics: no match.
    expected = twin.forward_numpy(inputs)["logits"]
    twin.module.train()
    try:
        with torch.no_grad():
            trained = twin(torch.from_numpy(inputs["pixels"]))[0].numpy()
    finally:
        twin.module.eval()
    assert not np.allclose(trained, expected, rtol=1e-3, atol=1e-5)


def test_tiny_transformer_matches_with_the_sequence_halved(models_dir: Path) -> None:
    model = load_onnx(str(onnx_builders.tiny_transformer(models_dir)))
    ids = RNG.integers(1, 100, size=(2, 8))
    mask = np.ones((2, 8), dtype=np.int64)
    mask[1, 6:] = 0

    twin = converted(to_torch(model, {"input_ids": ids, "attention_mask": mask}))

    shapes = [c.input_shapes for c in twin.report.parity]
    assert shapes == [
        {"input_ids": (2, 8), "attention_mask": (2, 8)},
        {"input_ids": (3, 4), "attention_mask": (3, 4)},
    ]
    assert all(c.ok for c in twin.report.parity)
    steps = {s.name: s for s in twin.report.steps}
    assert steps["lift_constants"].changed > 0  # its Clip bound is a Constant node


def test_two_outputs_come_back_in_graph_order(models_dir: Path) -> None:
    model = load_onnx(str(onnx_builders.two_in_two_out(models_dir)))
    inputs = {
        "image": RNG.random((2, 3, 16, 16), dtype=np.float32),
        "features": RNG.random((2, 8), dtype=np.float32),
    }
    twin = converted(to_torch(model, inputs))

    assert twin.output_names == ("class_logits", "score")
    outputs = twin.forward_numpy(inputs)
    assert outputs["class_logits"].shape == (2, 5) and outputs["score"].shape == (2, 1)
    assert [o.name for o in twin.report.parity[0].outputs] == ["class_logits", "score"]


def test_multi_output_node_and_passed_through_input_map_to_the_right_outputs(
    tmp_path: Path,
) -> None:
    """Split gives two graph outputs listed in reverse order, and ``x`` itself is an output:
    onnx2torch returns one value per output node, the twin one per graph output."""
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("Split", ["r"], ["a", "b"], axis=1, num_outputs=2),
        ],
        "split",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2]),
        ],
    )
    model = save_and_load(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]),
        tmp_path / "split.onnx",
    )
    x = RNG.standard_normal((2, 4)).astype(np.float32)

    twin = converted(to_torch(model, {"x": x}))

    outputs = twin.forward_numpy({"x": x})
    relu = np.maximum(x, 0)
    np.testing.assert_allclose(outputs["b"], relu[:, 2:])
    np.testing.assert_allclose(outputs["x"], x)
    np.testing.assert_allclose(outputs["a"], relu[:, :2])
    # The bare input and both Split outputs each get an Identity.
    assert {s.name: s.changed for s in twin.report.steps}["expose_outputs"] == 3


def test_node_module_finds_the_submodule_of_an_onnx_node(tiny_cnn: LoadedModel) -> None:
    twin = converted(to_torch(tiny_cnn, pixels(2)))
    conv = next(n for n in tiny_cnn.onnx_proto.graph.node if n.op_type == "Conv")

    assert isinstance(twin.node_module(conv.name), nn.Conv2d)
    with pytest.raises(KeyError, match="no submodule for ONNX node 'nope'"):
        twin.node_module("nope")


# ------------------------------------------------------------------------- refusals


def test_op_without_a_converter_names_the_op_and_the_node(models_dir: Path) -> None:
    model = load_onnx(str(onnx_builders.unsupported_op_model(models_dir)))

    result = to_torch(model, {"x": np.ones((2, 4), dtype=np.float32)})

    assert isinstance(result, Unconvertible)
    report = result.report
    assert report.status == "unconvertible"
    assert report.blocking_ops == ("com.example.MysteryOp-1",)
    assert report.first_blocking_node == "MysteryOp#0"
    assert report.reason == (
        "onnx2torch has no converter for com.example.MysteryOp-1 (first at node "
        "'MysteryOp#0'); gradient methods need one"
    )
    assert report.steps  # preparation still recorded


def test_blocking_ops_are_sorted_unique_and_the_first_node_is_in_graph_order(
    tmp_path: Path,
) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Zeta", ["x"], ["y"], domain="com.example", name="zeta_1"),
            helper.make_node("Relu", ["y"], ["z"]),
            helper.make_node("Alpha", ["z"], ["w"], domain="com.example", name="alpha"),
            helper.make_node("Zeta", ["w"], ["out"], domain="com.example", name="zeta_2"),
        ],
        "mystery",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 3)]
    model = save_and_load(helper.make_model(graph, opset_imports=opsets), tmp_path / "m.onnx")

    result = to_torch(model, {"x": np.ones((1, 4), dtype=np.float32)})

    assert isinstance(result, Unconvertible)
    assert result.report.blocking_ops == ("com.example.Alpha-3", "com.example.Zeta-3")
    assert result.report.first_blocking_node == "zeta_1"


def test_a_converter_that_raises_names_the_node(
    tiny_cnn: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    def refuse(node: object, graph: object) -> object:
        raise NotImplementedError("this Gemm is not supported")

    key = OperationDescription(domain="", operation_type="Gemm", version=13)
    monkeypatch.setitem(_CONVERTER_REGISTRY, key, refuse)
    gemm = next(n for n in tiny_cnn.onnx_proto.graph.node if n.op_type == "Gemm")

    result = to_torch(tiny_cnn, pixels(2))

    assert isinstance(result, Unconvertible)
    assert result.report.status == "unconvertible"
    assert result.report.blocking_ops == ("Gemm-13",)
    assert result.report.first_blocking_node == gemm.name
    assert result.report.reason == (
        f"onnx2torch cannot convert node '{gemm.name}' (Gemm-13): "
        "NotImplementedError: this Gemm is not supported"
    )


@pytest.fixture
def mystery_converter(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A converter for mystery.MysteryOp-1 that passes its input through, registered as if
    a harness converter module had added it. (The domain has no dot: onnx2torch names the
    submodule after it, and torch refuses module names with dots.)"""
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    def mystery(node, graph):  # type: ignore[no-untyped-def]
        return OperationConverterResult(nn.Identity(), onnx_mapping_from_node(node))

    mystery.__module__ = "harness.twin.converters.mystery"
    key = OperationDescription(domain="mystery", operation_type="MysteryOp", version=1)
    monkeypatch.setitem(_CONVERTER_REGISTRY, key, mystery)
    convert_module.harness_converters.cache_clear()
    yield
    convert_module.harness_converters.cache_clear()


def test_used_harness_converters_are_recorded_and_an_unrunnable_model_is_refused(
    tmp_path: Path, mystery_converter: None
) -> None:
    graph = helper.make_graph(
        [helper.make_node("MysteryOp", ["x"], ["y"], domain="mystery")],
        "mystery",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("mystery", 1)]
    model = save_and_load(helper.make_model(graph, opset_imports=opsets), tmp_path / "m.onnx")

    result = to_torch(model, {"x": np.ones((2, 4), dtype=np.float32)})

    assert isinstance(result, Unconvertible)  # converted, but onnxruntime has no kernel
    report = result.report
    assert report.status == "unconvertible"
    assert report.custom_converters == ("mystery.MysteryOp-1",)
    assert report.reason is not None
    assert report.reason.startswith(
        "onnxruntime cannot run m on the audit inputs, so the twin cannot be checked"
    )


class _Skewed(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.inner(*inputs) * 1.05
        return result


def test_a_twin_that_differs_is_a_mismatch_with_the_worst_output(
    tiny_cnn: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = convert_module._onnx2torch
    monkeypatch.setattr(convert_module, "_onnx2torch", lambda proto: _Skewed(real(proto)))

    result = to_torch(tiny_cnn, pixels(2))

    assert isinstance(result, Unconvertible)
    report = result.report
    assert report.status == "mismatch"
    assert report.reason is not None
    assert report.reason.startswith("output 'logits' differs by max ")
    assert "> rtol 0.001) at input sizes pixels 2x1x28x28" in report.reason
    assert len(report.parity) == 2 and not any(c.ok for c in report.parity)
    logits = report.parity[0].outputs[0]
    assert logits.name == "logits" and not logits.ok and logits.max_rel > 0.04


class _FixedBatch(nn.Module):
    """A twin that runs only batch 2 (its input reshaped to it), whatever the graph takes."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.inner(pixels.reshape(2, 1, 28, 28))
        return result


def test_a_second_size_the_twin_cannot_run_is_dropped_with_a_note_not_a_verdict(
    tiny_cnn: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = convert_module._onnx2torch
    monkeypatch.setattr(convert_module, "_onnx2torch", lambda proto: _FixedBatch(real(proto)))

    result = to_torch(tiny_cnn, pixels(2))

    twin = converted(result)
    assert twin.report.status == "converted"
    assert [c.input_shapes for c in twin.report.parity] == [{"pixels": (2, 1, 28, 28)}]
    assert twin.report.parity[0].ok
    assert twin.report.reason is not None
    assert twin.report.reason.startswith(
        "checked at input sizes pixels 2x1x28x28 only; not checked at pixels 3x1x28x28: "
        "the twin cannot run them (RuntimeError: shape"
    )


def test_a_twin_that_cannot_run_the_audit_inputs_is_a_mismatch(
    tiny_cnn: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = convert_module._onnx2torch
    monkeypatch.setattr(convert_module, "_onnx2torch", lambda proto: _FixedBatch(real(proto)))

    result = to_torch(tiny_cnn, pixels(4))

    assert isinstance(result, Unconvertible) and result.report.status == "mismatch"
    assert result.report.reason is not None
    assert result.report.reason.startswith(
        "the twin fails at input sizes pixels 4x1x28x28: RuntimeError: shape"
    )
    assert result.report.parity == ()


def test_a_pytorch_model_is_skipped() -> None:
    model = LoadedModel(
        source="pkg:factory", name="factory", format="pytorch", inputs=(), outputs=(),
        module=nn.Identity(),
    )  # fmt: skip
    result = to_torch(model, {})
    assert isinstance(result, Unconvertible) and result.report.status == "skipped"


def test_missing_inputs_are_the_callers_error(tiny_cnn: LoadedModel) -> None:
    with pytest.raises(InputResolutionError, match="missing pixels"):
        to_torch(tiny_cnn, {})


# ---------------------------------------------------------------------------- parity


def spec(name: str, *shape: int | str | None) -> TensorSpec:
    return TensorSpec(name=name, dtype="float32", shape=shape)


def test_second_size_tiles_the_batch_and_halves_shared_sequence_dims() -> None:
    specs = [spec("ids", "batch", "seq"), spec("mask", "batch", "seq"), spec("extra", 5, "n")]
    arrays = {
        "ids": np.arange(14).reshape(2, 7),
        "mask": np.ones((2, 7)),
        "extra": np.zeros((5, 2)),  # 'n' of length 2: too short to cut
    }

    second = second_size(specs, arrays)

    assert second is not None
    assert second["ids"].shape == (3, 4) and second["mask"].shape == (3, 4)
    np.testing.assert_array_equal(second["ids"][2], arrays["ids"][0, :4])  # tiled rows
    assert second["extra"].shape == (5, 2)


def test_second_size_leaves_a_dim_name_alone_when_inputs_disagree_on_its_length() -> None:
    specs = [spec("a", 1, "seq"), spec("b", 1, "seq")]
    arrays = {"a": np.zeros((1, 6)), "b": np.zeros((1, 8))}
    assert second_size(specs, arrays) is None


def test_static_inputs_get_one_check() -> None:
    arrays = {"x": np.zeros((2, 3))}
    assert input_sets([spec("x", 2, 3)], arrays) == [arrays]


def test_unnamed_dynamic_batch_is_tiled_too() -> None:
    second = second_size([spec("x", None, 3)], {"x": np.zeros((2, 3))})
    assert second is not None and second["x"].shape == (3, 3)


def test_compare_output_uses_the_relative_tolerance() -> None:
    reference = np.array([1000.0, 1.0, 0.0])
    within = compare_output("y", reference * (1 + 5e-4), reference, rtol=1e-3, atol=1e-5)
    assert within.ok
    assert math.isclose(within.max_abs, 0.5) and math.isclose(within.max_rel, 5e-4)

    beyond = compare_output(
        "y", reference + np.array([0, 0, 1e-4]), reference, rtol=1e-3, atol=1e-5
    )
    assert not beyond.ok and math.isclose(beyond.max_rel, 10.0)  # 1e-4 / max(0, atol)


def test_compare_output_fails_on_nan_and_on_shape() -> None:
    reference = np.zeros((2, 2), dtype=np.float32)
    nan = compare_output("y", np.full((2, 2), np.nan, np.float32), reference, 1e-3, 1e-5)
    assert not nan.ok and nan.max_abs == math.inf
    shape = compare_output("y", np.zeros((2, 3), np.float32), reference, 1e-3, 1e-5)
    assert not shape.ok and shape.max_rel == math.inf
