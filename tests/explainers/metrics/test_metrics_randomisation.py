"""The model parameter randomisation test and its torch and ONNX cascades."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from harness.core.errors import UsageError
from harness.explainers.metrics import (
    metric_result,
    mprt,
    onnx_cascade,
    passes_sanity,
    torch_cascade,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mlp() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(32, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 4),
    )


X = torch.randn(16, 32, generator=torch.Generator().manual_seed(1))


def _gradient(model: torch.nn.Module) -> torch.Tensor:
    x = X.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    return gradient


def _gradient_times_input(model: torch.nn.Module) -> torch.Tensor:
    return _gradient(model) * X


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_attributions_independent_of_the_weights_fail() -> None:
    model = _mlp()
    result = mprt(lambda _: X, model, torch_cascade(model))
    assert result.value == pytest.approx(1.0)
    assert not passes_sanity(result)


def test_gradients_of_an_mlp_pass() -> None:
    model = _mlp()
    result = mprt(_gradient, model, torch_cascade(model))
    assert passes_sanity(result)
    assert result.parameters["layers"] == "4,2,0"  # top layer first
    assert result.curve is not None and [k for k, _ in result.curve] == [1.0, 2.0, 3.0]
    assert not result.higher_is_better


def test_gradient_times_input_passes_on_signed_attributions() -> None:
    # Signed, the shared factor x no longer carries the ranks; by magnitude |x| alone keeps
    # about half the rank correlation on N(0, 1) inputs, whatever the weights.
    model = _mlp()
    result = mprt(_gradient_times_input, model, torch_cascade(model), absolute=False)
    assert passes_sanity(result)
    assert result.parameters["absolute"] == 0


def test_mprt_is_deterministic_under_seed() -> None:
    model = _mlp()
    first = mprt(_gradient, model, torch_cascade(model, seed=3))
    assert first == mprt(_gradient, model, torch_cascade(model, seed=3))
    assert first != mprt(_gradient, model, torch_cascade(model, seed=4))


def test_torch_cascade_is_cumulative_and_restores_at_the_end() -> None:
    model = _mlp()
    before = _weights(model)
    steps = []
    for name, randomised in torch_cascade(model):
        changed = [
            not torch.equal(a, b) for a, b in zip(before, randomised.parameters(), strict=True)
        ]
        steps.append((name, changed))
    # Parameters: 0.weight, 0.bias, 2.weight, 2.bias, 4.weight, 4.bias.
    assert steps[0] == ("4", [False, False, False, False, True, True])
    assert steps[1] == ("2", [False, False, True, True, True, True])
    assert steps[2] == ("0", [True] * 6)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_torch_cascade_restores_weights_after_an_exception() -> None:
    model = _mlp()
    before = _weights(model)
    calls = []

    def explain(state: torch.nn.Module) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:  # original, step 1, then fail at step 2
            raise RuntimeError("boom")
        return _gradient(state)

    with pytest.raises(RuntimeError, match="boom"):
        mprt(explain, model, torch_cascade(model))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    with (
        pytest.raises(RuntimeError, match="inside"),
        contextlib.closing(torch_cascade(model)) as steps,
    ):
        for _ in steps:
            raise RuntimeError("inside")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_passes_sanity_reads_only_mprt_results() -> None:
    other = metric_result("sparseness", [0.1], higher_is_better=True, parameters={})
    with pytest.raises(UsageError, match="mprt"):
        passes_sanity(other)


# --- ONNX -----------------------------------------------------------------------------


def _onnx_mlp() -> onnx.ModelProto:
    """x (1,4) -> Gemm(W1, B1) -> Relu -> Reshape(shape) -> Gemm(W2, B2) * scale."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 6)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.normal(size=(6,)).astype(np.float32), "B1"),
        numpy_helper.from_array(np.array([1, 6], dtype=np.int64), "shape"),
        numpy_helper.from_array(rng.normal(size=(6, 2)).astype(np.float32), "W2"),
        numpy_helper.from_array(np.ones((2,), dtype=np.float32), "B2"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "W2", "B2"], ["o"], name="fc2"),
        helper.make_node("Mul", ["o", "scale"], ["y"], name="scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        inits,
    )
    return helper.make_model(graph)


def _arrays(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def test_onnx_cascade_randomises_initializers_top_down_without_touching_the_original() -> None:
    proto = _onnx_mlp()
    original = _arrays(proto)
    steps = list(onnx_cascade(proto, seed=0))
    assert [name for name, _ in steps] == ["fc2", "fc1"]  # scalars and int shapes are kept
    after_fc2, after_fc1 = (_arrays(p) for _, p in steps)
    changed = {n for n in original if not np.array_equal(original[n], after_fc2[n])}
    assert changed == {"W2", "B2"}
    changed = {n for n in original if not np.array_equal(original[n], after_fc1[n])}
    assert changed == {"W1", "B1", "W2", "B2"}
    assert np.array_equal(after_fc1["W2"], after_fc2["W2"])  # cumulative
    for name, values in after_fc1.items():
        assert values.shape == original[name].shape and values.dtype == original[name].dtype
    assert _arrays(proto).keys() == original.keys()
    assert all(np.array_equal(_arrays(proto)[n], original[n]) for n in original)
    onnx.checker.check_model(steps[-1][1])
    import onnxruntime as ort

    session = ort.InferenceSession(steps[-1][1].SerializeToString())
    (y,) = session.run(None, {"x": np.ones((1, 4), dtype=np.float32)})
    assert y.shape == (1, 2) and np.all(np.isfinite(y))


def test_onnx_cascade_is_deterministic_and_keeps_scale() -> None:
    proto = _onnx_mlp()
    a = [_arrays(p) for _, p in onnx_cascade(proto, seed=1)]
    b = [_arrays(p) for _, p in onnx_cascade(proto, seed=1)]
    assert all(np.array_equal(x[n], y[n]) for x, y in zip(a, b, strict=True) for n in x)
    # B2 is all ones (std 0): drawn at its RMS, 1, rather than left constant.
    assert not np.allclose(a[0]["B2"], 1.0)


def test_onnx_cascade_asks_for_external_data_to_be_loaded() -> None:
    proto = _onnx_mlp()
    w1 = proto.graph.initializer[0]
    w1.data_location = TensorProto.EXTERNAL
    with pytest.raises(UsageError, match="load_external_data=True"):
        next(onnx_cascade(proto))
