"""The forwards attributions run on: a refused twin, onnxruntime chunking, cascades that
restore the weights they randomise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from harness import twin as twin_package
from harness.core.config import AuditConfig
from harness.core.model import LoadedModel
from harness.core.twin import ConversionReport
from harness.intake.loader import load_model
from harness.models import get_reference
from harness.pipeline import run_audit
from harness.stages.explanations.backends import SessionForward
from harness.stages.explanations.cascades import graph_cascade, limited
from harness.stages.explanations.plan import Subject
from harness.testing import onnx_builders
from harness.twin import TorchTwin, Unconvertible

torch.set_num_threads(1)

LSTM_REASON = (
    "no converter for ai.onnx LSTM-14 (first node '/lstm/LSTM'); gradient methods need one"
)


def _refuse(model: LoadedModel, inputs: dict[str, np.ndarray], **_: float) -> Unconvertible:
    return Unconvertible(
        ConversionReport(
            status="unconvertible",
            reason=LSTM_REASON,
            rtol=1e-3,
            atol=1e-5,
            blocking_ops=("ai.onnx.LSTM-14",),
            first_blocking_node="/lstm/LSTM",
        )
    )


def test_a_model_the_twin_refuses_keeps_its_perturbation_methods(monkeypatch):
    monkeypatch.setattr(twin_package, "to_torch", _refuse)
    config = AuditConfig(
        model=str(get_reference("rnn").onnx_path),
        budget="quick",
        skip=("efficiency", "attention"),
        threads=1,
    )
    section = run_audit(config).explanations
    assert section.status == "ok"
    assert section.conversion is not None and section.conversion.status == "unconvertible"
    methods = {m.name: m for m in section.methods}
    # The defaults still list the gradient methods, each skipped with the op named.
    for name in ("saliency", "layer_integrated_gradients"):
        assert methods[name].status == "skipped"
        assert "LSTM-14" in (methods[name].reason or ""), methods[name].reason
    occlusion = methods["occlusion"]
    assert (occlusion.status, occlusion.backend) == ("ok", "onnxruntime")
    assert occlusion.sanity is not None and occlusion.ground_truth is not None


def test_only_gradient_methods_chosen_on_a_refused_twin_skip_the_stage(monkeypatch):
    monkeypatch.setattr(twin_package, "to_torch", _refuse)
    config = AuditConfig(
        model=str(get_reference("rnn").onnx_path),
        budget="quick",
        explainers=("saliency",),
        skip=("efficiency", "attention"),
    )
    section = run_audit(config).explanations
    assert section.status == "skipped" and "no attribution method" in (section.reason or "")


def _fixed_batch_model(folder: Path) -> Path:
    """y = x @ W with x fixed at (1, 4): a graph that only runs one row at a time."""
    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "fixed.onnx"
    onnx.save(model, path)
    return path


def test_session_forward_runs_a_fixed_batch_graph_row_by_row(tmp_path):
    import onnxruntime as ort

    path = _fixed_batch_model(tmp_path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    forward = SessionForward(
        session, Subject("x", "vector", ()), {}, {"x": np.dtype("float32")}, fixed_batch=1
    )
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    expected = x @ torch.arange(12, dtype=torch.float32).reshape(4, 3)
    assert torch.allclose(forward(x), expected)


def _state(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in (*module.parameters(), *module.buffers())]


def test_graph_cascade_randomises_top_down_and_restores_every_tensor(tmp_path):
    path = onnx_builders.tiny_cnn(tmp_path)
    model = load_model(AuditConfig(model=str(path)))
    twin = twin_package.to_torch(model, {"pixels": np.zeros((2, 1, 28, 28), np.float32)})
    assert isinstance(twin, TorchTwin)
    graph = twin.module.converted
    labels = {v.removeprefix("converted."): k for k, v in twin.node_modules.items()}
    before = _state(graph)
    seen = []
    for layer, state in limited(graph_cascade(graph, labels, seed=0), 2):
        seen.append(layer)
        changed = [not torch.equal(a, b) for a, b in zip(before, _state(state), strict=True)]
        assert any(changed)
    assert seen == ["/head/head.1/Gemm", "/features/features.3/Conv"]
    assert all(torch.equal(a, b) for a, b in zip(before, _state(graph), strict=True))


def test_limited_closes_a_torch_cascade_so_the_weights_come_back():
    from harness.explainers.metrics import torch_cascade

    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    before = _state(module)
    steps = list(limited(torch_cascade(module, seed=0), 1))
    assert [name for name, _ in steps] == ["2"]
    assert all(torch.equal(a, b) for a, b in zip(before, _state(module), strict=True))


def test_limited_passes_every_step_without_a_depth():
    assert list(limited(iter([("a", 1), ("b", 2)]), None)) == [("a", 1), ("b", 2)]


@pytest.mark.parametrize("builder", ["two_in_two_out", "token_ids_via_cast"])
def test_models_nobody_here_wrote_get_every_default_method(tmp_path, builder):
    path = getattr(onnx_builders, builder)(tmp_path)
    config = AuditConfig(
        model=str(path), budget="standard", skip=("efficiency", "attention"), threads=1
    )
    section = run_audit(config).explanations
    assert section.status == "ok"
    # Several inputs: the second rides along (and carries gradients for DeepLift's hooks);
    # token ids cast before their embedding still find it.
    assert [(m.name, m.status) for m in section.methods if m.status != "ok"] == []


def _boom(self, request):
    raise RuntimeError("boom: the forward exploded\nsecond line")


def test_a_method_that_raises_is_failed_and_the_others_go_on(monkeypatch):
    from harness.explainers.methods.occlusion import OcclusionExplainer

    monkeypatch.setattr(OcclusionExplainer, "_attribute", _boom)
    config = AuditConfig(
        model="ref:cnn_patch",
        budget="quick",
        samples=2,
        explainers=("occlusion", "saliency"),
        skip=("efficiency", "attention"),
    )
    section = run_audit(config).explanations
    assert section.status == "ok"
    occlusion, saliency = section.methods
    assert (occlusion.status, occlusion.reason) == ("failed", "boom: the forward exploded")
    assert saliency.status == "ok"
    assert section.agreement is None  # one method left: nothing to compare


def test_every_method_failing_fails_the_stage(monkeypatch):
    from harness.explainers.methods.occlusion import OcclusionExplainer

    monkeypatch.setattr(OcclusionExplainer, "_attribute", _boom)
    config = AuditConfig(
        model="ref:cnn_patch",
        budget="quick",
        samples=2,
        explainers=("occlusion",),
        skip=("efficiency", "attention"),
    )
    result = run_audit(config)
    assert result.explanations.status == "failed"
    assert result.explanations.reason == (
        "every attribution method failed (occlusion: boom: the forward exploded)"
    )
    assert result.failed_stages() == ("explanations",)
