"""The forward check: named outputs from ONNX and torch, runtime errors mapped, NaN stops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from harness.core.errors import (
    InputResolutionError,
    ModelLoadError,
    ModelOutputError,
    UnsupportedModelError,
    UsageError,
)
from harness.core.model import LoadedModel, TensorSpec
from harness.runtime.device import resolve_device
from harness.runtime.forward import observe_outputs, run_forward
from harness.testing import onnx_builders

X = TensorSpec(name="x", dtype="float32", shape=("batch", 4))


def onnx_model(path: Path, *inputs: TensorSpec) -> LoadedModel:
    return LoadedModel(
        source=str(path), name=path.stem, format="onnx", inputs=inputs, outputs=(), path=path
    )


def torch_model(module: nn.Module, *inputs: TensorSpec) -> LoadedModel:
    return LoadedModel(
        source="pkg.mod:factory",
        name="factory",
        format="pytorch",
        inputs=inputs,
        outputs=(),
        module=module.eval(),
    )


@pytest.fixture
def double_and_sum(tmp_path: Path) -> LoadedModel:
    """``x`` (batch,4) -> ``doubled`` = x + x and ``total`` = sum over axis 1."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "x"], ["doubled"]),
            helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
        ],
        "double_and_sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"]),
        ],
        initializer=[numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", onnx_builders.OPSET)],
        ir_version=onnx_builders.IR_VERSION,
    )
    onnx.checker.check_model(proto)
    path = tmp_path / "double_and_sum.onnx"
    onnx.save_model(proto, str(path))
    return onnx_model(path, X)


# --- ONNX -----------------------------------------------------------------------------


def test_onnx_outputs_are_named_and_computed(double_and_sum: LoadedModel) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    outputs = run_forward(double_and_sum, {"x": x}, "cpu", threads=1)
    assert list(outputs) == ["doubled", "total"]
    np.testing.assert_array_equal(outputs["doubled"], 2 * x)
    np.testing.assert_array_equal(outputs["total"], x.sum(axis=1))
    observed = {o.name: o for o in observe_outputs(outputs)}
    assert observed["total"].shape == (2,)
    assert observed["total"].max == pytest.approx(22.0)
    assert observed["doubled"].mean == pytest.approx(7.0)


def test_nan_output_is_a_model_output_error_naming_the_output(tmp_path: Path) -> None:
    loaded = onnx_model(onnx_builders.nan_output_model(tmp_path), X)
    with pytest.raises(ModelOutputError) as caught:
        run_forward(loaded, {"x": np.ones((3, 4), np.float32)}, "cpu", threads=1)
    assert "'y'" in str(caught.value)
    assert "12 NaN" in str(caught.value)


def test_unsupported_op_is_an_unsupported_model_error_naming_the_op(tmp_path: Path) -> None:
    loaded = onnx_model(onnx_builders.unsupported_op_model(tmp_path), X)
    with pytest.raises(UnsupportedModelError) as caught:
        run_forward(loaded, {"x": np.ones((1, 4), np.float32)}, "cpu", threads=1)
    assert "MysteryOp" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


def test_unreadable_onnx_is_a_model_load_error(tmp_path: Path) -> None:
    loaded = onnx_model(onnx_builders.text_file_as_onnx(tmp_path), X)
    with pytest.raises(ModelLoadError) as caught:
        run_forward(loaded, {"x": np.ones((1, 4), np.float32)}, "cpu", threads=1)
    assert not isinstance(caught.value, UnsupportedModelError)


@pytest.mark.parametrize(
    "x",
    [np.ones((2, 5), np.float32), np.ones((2, 4, 1), np.float32), np.ones((2, 4), np.float64)],
    ids=["wrong-dim", "wrong-rank", "wrong-dtype"],
)
def test_feed_the_model_rejects_is_an_input_resolution_error(
    double_and_sum: LoadedModel, x: np.ndarray
) -> None:
    with pytest.raises(InputResolutionError) as caught:
        run_forward(double_and_sum, {"x": x}, "cpu", threads=1)
    message = str(caught.value)
    assert "double_and_sum" in message
    assert "x " + "x".join(map(str, x.shape)) in message
    assert "--shape" in message


# --- torch ----------------------------------------------------------------------------


class _Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.linear(x), x.sum(dim=1)


def test_torch_single_output_is_named_output() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(4, 3)
    loaded = torch_model(linear, TensorSpec(name="input", dtype="float32", shape=("batch", 4)))
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    outputs = run_forward(loaded, {"input": x}, "cpu", threads=None)
    assert list(outputs) == ["output"]
    expected = x @ linear.weight.detach().numpy().T + linear.bias.detach().numpy()
    np.testing.assert_allclose(outputs["output"], expected, rtol=1e-5, atol=1e-6)


def test_torch_tuple_outputs_are_numbered() -> None:
    loaded = torch_model(_Pair(), X)
    x = np.ones((2, 4), np.float32)
    outputs = run_forward(loaded, {"x": x}, "cpu", threads=None)
    assert list(outputs) == ["output_0", "output_1"]
    assert outputs["output_0"].shape == (2, 3)
    np.testing.assert_array_equal(outputs["output_1"], np.full(2, 4.0, np.float32))


def test_torch_declared_output_names_are_used() -> None:
    loaded = LoadedModel(
        source="pkg.mod:factory",
        name="factory",
        format="pytorch",
        inputs=(X,),
        outputs=(
            TensorSpec(name="logits", dtype="float32", shape=("batch", 3)),
            TensorSpec(name="total", dtype="float32", shape=("batch",)),
        ),
        module=_Pair().eval(),
    )
    outputs = run_forward(loaded, {"x": np.ones((1, 4), np.float32)}, "cpu", threads=None)
    assert list(outputs) == ["logits", "total"]


def test_torch_nan_output_is_a_model_output_error() -> None:
    class Log(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.log(x)

    loaded = torch_model(Log(), X)
    with pytest.raises(ModelOutputError, match="'output'"):
        run_forward(loaded, {"x": -np.ones((1, 4), np.float32)}, "cpu", threads=None)


def test_torch_shape_error_is_an_input_resolution_error() -> None:
    loaded = torch_model(nn.Linear(4, 3), TensorSpec("input", "float32", ("batch", 4)))
    with pytest.raises(InputResolutionError) as caught:
        run_forward(loaded, {"input": np.ones((2, 5), np.float32)}, "cpu", threads=None)
    assert "RuntimeError" in str(caught.value) and "input 2x5" in str(caught.value)


# --- device ---------------------------------------------------------------------------


@pytest.mark.parametrize("model_format", ["onnx", "pytorch"])
def test_cpu_request_is_always_cpu(model_format: str) -> None:
    assert resolve_device("cpu", model_format) == "cpu"  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="asserts the no-GPU answer")
def test_auto_falls_back_to_cpu_without_a_gpu() -> None:
    assert resolve_device("auto", "onnx") == "cpu"
    assert resolve_device("auto", "pytorch") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="asserts the no-GPU answer")
@pytest.mark.parametrize("model_format", ["onnx", "pytorch"])
def test_cuda_request_without_a_gpu_is_a_usage_error(model_format: str) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_device("cuda", model_format)  # type: ignore[arg-type]
    assert "CUDA" in str(caught.value)
    assert "--device cpu" in str(caught.value)


# --- a large batch in chunks ----------------------------------------------------------


@pytest.fixture
def dense_relu(tmp_path: Path) -> LoadedModel:
    """``x`` (batch,32) -> Relu(x @ W + b) -> ``y`` (batch,16): GEMM kernels that might
    block differently for different batch sizes."""
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["z"]),
            helper.make_node("Relu", ["z"], ["y"]),
        ],
        "dense_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
        initializer=[
            numpy_helper.from_array(rng.standard_normal((32, 16)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b"),
        ],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", onnx_builders.OPSET)],
        ir_version=onnx_builders.IR_VERSION,
    )
    path = tmp_path / "dense_relu.onnx"
    onnx.save_model(proto, str(path))
    return onnx_model(path, TensorSpec(name="x", dtype="float32", shape=("batch", 32)))


def test_a_large_batch_gives_the_outputs_of_one_pass(
    dense_relu: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.random.default_rng(1).standard_normal((1000, 32)).astype(np.float32)
    chunked = run_forward(dense_relu, {"x": x}, "cpu", threads=1)
    monkeypatch.setattr("harness.runtime.chunks.MAX_CHUNK_SAMPLES", 10**6)
    whole = run_forward(dense_relu, {"x": x}, "cpu", threads=1)
    assert chunked["y"].shape == (1000, 16)
    np.testing.assert_allclose(chunked["y"], whole["y"], rtol=1e-6, atol=1e-6)


def test_a_large_batch_runs_in_chunks_through_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    class Recording(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.shape[0])
            return x * 2

    loaded = torch_model(Recording(), X)
    x = np.ones((200, 4), np.float32)
    outputs = run_forward(loaded, {"x": x}, "cpu", threads=None)
    np.testing.assert_array_equal(outputs["output"], 2 * x)
    assert seen == [64, 64, 64, 8]
