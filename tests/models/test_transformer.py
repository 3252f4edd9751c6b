"""The reference Transformer: positions, explicit attention, committed weights and ONNX."""

from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness.models import get_reference
from harness.models.tasks import load_task
from harness.models.train import TrainConfig, evaluate, train_reference
from harness.models.transformer import (
    AttentionSoftmax,
    full_size_transformer,
    sinusoidal_positions,
    zoo_transformer,
)


@pytest.fixture(scope="module")
def data():
    return load_task("trigger_tokens")


@pytest.fixture(scope="module")
def model():
    return get_reference("transformer").build()


@pytest.fixture(scope="module")
def batch(data):
    return {name: torch.from_numpy(x) for name, x in data.test_batch(8).items()}


def capture_attention(model, batch) -> list[torch.Tensor]:
    """The attention map of every layer, captured by forward hooks on the softmax modules."""
    maps: list[torch.Tensor] = []
    modules = [m for m in model.modules() if isinstance(m, AttentionSoftmax)]
    handles = [m.register_forward_hook(lambda _m, _i, out: maps.append(out)) for m in modules]
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for handle in handles:
            handle.remove()
    return maps


# ---------------------------------------------------------------------------- positions


@pytest.mark.parametrize(
    ("pos", "two_i", "angle"),
    [
        (0, 0, 0.0),
        (1, 0, 1.0),  # 1 / 10000^0
        (3, 2, 0.3),  # 3 / 10000^(2/8) = 3 / 10
        (10, 4, 0.1),  # 10 / 10000^(4/8) = 10 / 100
        (20, 6, 0.02),  # 20 / 10000^(6/8) = 20 / 1000
    ],
)
def test_sinusoidal_positions_follow_the_formula(pos, two_i, angle):
    table = sinusoidal_positions(32, 8)
    assert table.shape == (32, 8)
    assert table[pos, two_i].item() == pytest.approx(math.sin(angle), abs=1e-7)
    assert table[pos, two_i + 1].item() == pytest.approx(math.cos(angle), abs=1e-7)


def test_model_adds_the_table_sliced_to_the_sequence_length(model):
    torch.testing.assert_close(model.positions, sinusoidal_positions(64, 64))
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        embedded = model.embedding(ids) * 8.0  # sqrt(d_model = 64)
    # The first layer's input is embedding * sqrt(d) + PE[:3].
    seen: list[torch.Tensor] = []
    handle = model.layers[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            model(ids, torch.ones_like(ids))
    finally:
        handle.remove()
    torch.testing.assert_close(seen[0], embedded + sinusoidal_positions(3, 64))


# ---------------------------------------------------------------------------- attention


def test_attention_maps_are_distributions_that_ignore_padding(model, batch):
    maps = capture_attention(model, batch)
    assert len(maps) == len(model.layers) == 2
    padded_keys = batch["attention_mask"] == 0
    for attention in maps:
        assert attention.shape == (8, 4, 32, 32)  # batch, heads, query, key
        torch.testing.assert_close(attention.sum(dim=-1), torch.ones(8, 4, 32))
        on_padding = attention.permute(0, 3, 1, 2)[padded_keys]  # (padded keys, heads, query)
        assert on_padding.numel() > 0
        assert on_padding.abs().max().item() < 1e-9


def test_attention_is_softmax_of_scaled_query_key_products(model, batch):
    attention_module = model.layers[1].attention
    inputs: list[torch.Tensor] = []
    handle = attention_module.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
    try:
        maps = capture_attention(model, batch)
    finally:
        handle.remove()
    x = inputs[0]
    n, s, d = x.shape
    heads, d_k = 4, d // 4
    with torch.no_grad():
        q = attention_module.query(x).reshape(n, s, heads, d_k).permute(0, 2, 1, 3)
        k = attention_module.key(x).reshape(n, s, heads, d_k).permute(0, 2, 1, 3)
        scores = torch.einsum("nhqd,nhkd->nhqk", q, k) / math.sqrt(d_k)
        scores = scores.masked_fill((batch["attention_mask"] == 0)[:, None, None, :], -math.inf)
        expected = torch.softmax(scores, dim=-1)
    torch.testing.assert_close(maps[1], expected, rtol=0, atol=1e-6)


def test_hooks_are_gone_after_an_error(model):
    with pytest.raises(IndexError):
        # Token 99 is outside the vocabulary of 64: the embedding raises mid-forward.
        bad = {"input_ids": torch.tensor([[99]]), "attention_mask": torch.ones(1, 1).long()}
        capture_attention(model, bad)
    assert not any(m._forward_hooks for m in model.modules())


# ---------------------------------------------------------------------------- weights, ONNX


def test_committed_weights_reach_the_floor(model, data):
    assert not model.training
    assert evaluate(model, data.test, data.y_test, "classification", data) >= 0.98


def test_extra_padding_does_not_change_the_logits(model, batch):
    padded = {name: torch.nn.functional.pad(x, (0, 9)) for name, x in batch.items()}
    with torch.no_grad():
        torch.testing.assert_close(model(**padded), model(**batch), rtol=0, atol=1e-5)


def test_onnx_has_one_softmax_per_layer():
    graph = onnx.load(get_reference("transformer").onnx_path).graph
    assert [node.op_type for node in graph.node].count("Softmax") == 2


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("length", [32, 20])
def test_onnx_agrees_with_torch(model, data, batch_size, length):
    feeds = {name: x[:, :length] for name, x in data.test_batch(batch_size, start=10).items()}
    session = ort.InferenceSession(
        get_reference("transformer").onnx_path, providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(["logits"], feeds)
    with torch.no_grad():
        want = model(**{name: torch.from_numpy(x) for name, x in feeds.items()}).numpy()
    assert got.shape == (batch_size, 4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------- sizes, training


def test_full_size_transformer_builds_and_runs():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        big = full_size_transformer().eval()
    assert big.embedding.num_embeddings == 10_000
    assert big.d_model == 512
    assert len(big.layers) == 6
    assert big.layers[0].attention.heads == 8
    ids = torch.randint(3, 10_000, (1, 16))
    with torch.no_grad():
        logits = big(ids, torch.ones_like(ids))
    assert logits.shape == (1, 4)
    assert torch.isfinite(logits).all()


def test_zoo_transformer_has_the_registered_shape():
    small = zoo_transformer()
    assert (small.embedding.num_embeddings, small.d_model, len(small.layers)) == (64, 64, 2)
    assert small.classifier.out_features == 4


def test_short_training_beats_chance():
    config = TrainConfig(epochs=2, max_train_samples=1000, learning_rate=1e-3)
    trained = train_reference(get_reference("transformer"), config)
    assert trained.test_accuracy > 0.4
