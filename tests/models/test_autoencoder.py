"""The reference autoencoder: output range, committed quality, training, ONNX export."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness.models import get_reference
from harness.models.autoencoder import DigitsAutoencoder
from harness.models.tasks import load_task
from harness.models.train import TrainConfig, evaluate, mean_image_mse, train_reference


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


@pytest.fixture(scope="module")
def committed():
    return get_reference("autoencoder").build()


def test_output_shape_and_range():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = DigitsAutoencoder().eval()
        pixels = torch.rand(5, 1, 28, 28) * 4 - 2  # inputs outside [0,1] too
    with torch.no_grad():
        out = module(pixels)
    assert out.shape == (5, 1, 28, 28)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0


def test_committed_weights_beat_the_mean_image_fivefold(digits, committed):
    assert not committed.training
    mse = evaluate(committed, digits.test, digits.y_test, "reconstruction", digits)
    assert mean_image_mse(digits) / mse >= 5.0


def test_short_training_reduces_the_reconstruction_error(digits):
    reference = get_reference("autoencoder")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # train_reference seeds the same way: these are its start weights
        untrained = reference.new_module().eval()
    before = evaluate(untrained, digits.test, digits.y_test, "reconstruction", digits)
    trained = train_reference(reference, TrainConfig(epochs=2, max_train_samples=512))
    assert trained.objective == "reconstruction"
    assert trained.test_metric < 0.5 * before


@pytest.mark.parametrize("batch_size", [8, 3])
def test_committed_onnx_agrees_with_torch(digits, committed, batch_size):
    images = digits.test["pixels"][:8]
    session = ort.InferenceSession(
        get_reference("autoencoder").onnx_path, providers=["CPUExecutionProvider"]
    )
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        (got,) = session.run(["reconstruction"], {"pixels": batch})
        with torch.no_grad():
            want = committed(torch.from_numpy(batch)).numpy()
        assert got.shape == batch.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_committed_onnx_has_a_dynamic_batch_dim_and_metadata():
    model = onnx.load(get_reference("autoencoder").onnx_path)
    (pixels,) = model.graph.input
    (reconstruction,) = model.graph.output
    assert (pixels.name, reconstruction.name) == ("pixels", "reconstruction")
    for value in (pixels, reconstruction):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == ["batch", 1, 28, 28]
    props = {p.key: p.value for p in model.metadata_props}
    assert props == {"harness.reference": "autoencoder", "harness.task": "digits"}
    onnx.checker.check_model(model, full_check=True)
