"""The reference GRU: committed weights, padding, and an ONNX export that holds a GRU node."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness.models import get_reference
from harness.models.rnn import TriggerGRU
from harness.models.tasks import load_task
from harness.models.train import TrainConfig, evaluate, train_reference


@pytest.fixture(scope="module")
def data():
    return load_task("trigger_tokens")


@pytest.fixture(scope="module")
def model():
    return get_reference("rnn").build()


def test_committed_weights_reach_the_floor(model, data):
    assert not model.training
    assert evaluate(model, data.test, data.y_test, "classification", data) >= 0.95


def test_extra_padding_does_not_change_the_logits(model, data):
    batch = {name: torch.from_numpy(x) for name, x in data.test_batch(8).items()}
    padded = {name: torch.nn.functional.pad(x, (0, 9)) for name, x in batch.items()}
    with torch.no_grad():
        torch.testing.assert_close(model(**padded), model(**batch), rtol=0, atol=1e-6)


def test_onnx_holds_a_gru_node():
    graph = onnx.load(get_reference("rnn").onnx_path).graph
    assert "GRU" in {node.op_type for node in graph.node}


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("length", [32, 20])
def test_onnx_agrees_with_torch(model, data, batch_size, length):
    feeds = {name: x[:, :length] for name, x in data.test_batch(batch_size, start=10).items()}
    session = ort.InferenceSession(
        get_reference("rnn").onnx_path, providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(["logits"], feeds)
    with torch.no_grad():
        want = model(**{name: torch.from_numpy(x) for name, x in feeds.items()}).numpy()
    assert got.shape == (batch_size, 4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_builds_with_no_arguments():
    logits = TriggerGRU()(torch.tensor([[3, 1, 2, 0]]), torch.tensor([[1, 1, 1, 0]]))
    assert logits.shape == (1, 4)


def test_short_training_beats_chance():
    config = TrainConfig(epochs=2, max_train_samples=2000, learning_rate=2e-3)
    trained = train_reference(get_reference("rnn"), config)
    assert trained.test_accuracy > 0.4
