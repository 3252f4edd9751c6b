"""The committed ONNX export of the reference CNN, and ``models.export``."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness import models
from harness.core.errors import InternalError
from harness.models import get_reference
from harness.models.cnn import DigitsCNN
from harness.models.export import export_onnx
from harness.models.tasks.digits import load_digits_split


@pytest.fixture(scope="module")
def cnn_module():
    return get_reference("cnn").build()


@pytest.fixture(scope="module")
def committed_onnx() -> onnx.ModelProto:
    return onnx.load(get_reference("cnn").onnx_path)


def test_committed_onnx_agrees_with_torch_on_test_images(cnn_module):
    images = load_digits_split().x_test[:8]
    session = ort.InferenceSession(
        get_reference("cnn").onnx_path, providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(["logits"], {"pixels": images})
    with torch.no_grad():
        want = cnn_module(torch.from_numpy(images)).numpy()
    assert got.shape == (8, 10)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_committed_onnx_has_a_dynamic_batch_dim(committed_onnx):
    (pixels,) = committed_onnx.graph.input
    (logits,) = committed_onnx.graph.output
    assert pixels.name == "pixels"
    assert logits.name == "logits"
    pixel_dims = [d.dim_param or d.dim_value for d in pixels.type.tensor_type.shape.dim]
    logit_dims = [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim]
    assert pixel_dims == ["batch", 1, 28, 28]
    assert logit_dims == ["batch", 10]


def test_committed_onnx_metadata_and_opset(committed_onnx):
    props = {p.key: p.value for p in committed_onnx.metadata_props}
    assert props == {"harness.reference": "cnn", "harness.task": "digits"}
    assert [o.version for o in committed_onnx.opset_import if o.domain in ("", "ai.onnx")] == [17]
    onnx.checker.check_model(committed_onnx, full_check=True)


def test_export_is_deterministic_and_checked(cnn_module, tmp_path):
    first = export_onnx(cnn_module, tmp_path / "a.onnx", get_reference("cnn"))
    second = export_onnx(cnn_module, tmp_path / "b.onnx", get_reference("cnn"))
    assert first == second == (tmp_path / "a.onnx").read_bytes()
    assert not cnn_module.training
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_disagreeing_with_torch_raises_and_writes_nothing(monkeypatch, cnn_module, tmp_path):
    reference = get_reference("cnn")
    real_trace = models.export._trace
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        other = DigitsCNN().eval()  # untrained: its graph cannot match the trained module
    monkeypatch.setattr(models.export, "_trace", lambda module, ref: real_trace(other, ref))
    with pytest.raises(InternalError, match="differs from torch"):
        export_onnx(cnn_module, tmp_path / "cnn.onnx", reference)
    assert list(tmp_path.iterdir()) == []
