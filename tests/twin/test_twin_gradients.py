"""The twin's gradients flow: Integrated Gradients on it satisfies completeness.

Completeness (Sundararajan et al., 2017): the attributions sum to f(x) - f(baseline). Captum
returns the gap as the convergence delta; a twin whose graph broke the gradient (a detached
constant, a non-differentiable converter) would leave a large one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients

from harness.core.model import LoadedModel
from harness.intake.onnx_model import load_onnx
from harness.models.tasks import load_task
from harness.twin import TorchTwin, to_torch

ZOO = "models/zoo"
RELATIVE = 1e-2


def twin_of(model: LoadedModel, inputs: dict[str, np.ndarray]) -> TorchTwin:
    twin = to_torch(model, inputs)
    assert isinstance(twin, TorchTwin), twin.report.reason
    return twin


def assert_complete(
    total: torch.Tensor, delta: torch.Tensor, at_input: torch.Tensor, at_baseline: torch.Tensor
) -> None:
    gap = (at_input - at_baseline).abs()
    assert torch.all(gap > 1e-3), gap  # a gap worth explaining
    assert torch.all(delta.abs() <= RELATIVE * gap), (delta, gap)
    torch.testing.assert_close(total, at_input - at_baseline, rtol=RELATIVE, atol=0.0)


def test_integrated_gradients_on_the_cnn_twin_is_complete() -> None:
    model = load_onnx(f"{ZOO}/cnn_digits.onnx")
    inputs = load_task("digits").test_batch(4)
    twin = twin_of(model, inputs)
    pixels = torch.from_numpy(inputs["pixels"])
    baseline = torch.zeros_like(pixels)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return twin(x)[0]

    with torch.no_grad():
        target = logits(pixels).argmax(dim=1)
    attributions, delta = IntegratedGradients(logits).attribute(
        pixels,
        baselines=baseline,
        target=target,
        n_steps=64,
        method="gausslegendre",
        return_convergence_delta=True,
    )

    with torch.no_grad():
        at_input = logits(pixels).gather(1, target[:, None])[:, 0]
        at_baseline = logits(baseline).gather(1, target[:, None])[:, 0]
    assert attributions.shape == pixels.shape and attributions.abs().sum() > 0
    assert_complete(attributions.sum(dim=(1, 2, 3)), delta, at_input, at_baseline)


def embedding_gather(model: LoadedModel) -> str:
    """The name of the Gather that reads ``input_ids`` rows out of an initializer table."""
    tables = {t.name for t in model.onnx_proto.graph.initializer}
    for node in model.onnx_proto.graph.node:
        if node.op_type == "Gather" and node.input[0] in tables and node.input[1] == "input_ids":
            return str(node.name)
    pytest.fail("no embedding Gather on input_ids in the graph")


def test_layer_integrated_gradients_through_the_token_twins_embedding_is_complete() -> None:
    model = load_onnx(f"{ZOO}/transformer_trigger.onnx")
    inputs = load_task("trigger_tokens").test_batch(2)
    twin = twin_of(model, inputs)
    ids = torch.from_numpy(inputs["input_ids"])
    mask = torch.from_numpy(inputs["attention_mask"])
    baseline = torch.zeros_like(ids)  # PAD everywhere
    embedding = twin.node_module(embedding_gather(model))

    def logits(token_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return twin(token_ids, attention_mask)[0]

    with torch.no_grad():
        target = logits(ids, mask).argmax(dim=1)
    attributions, delta = LayerIntegratedGradients(logits, embedding).attribute(
        ids,
        baselines=baseline,
        additional_forward_args=(mask,),
        target=target,
        n_steps=64,
        method="gausslegendre",
        return_convergence_delta=True,
    )

    with torch.no_grad():
        at_input = logits(ids, mask).gather(1, target[:, None])[:, 0]
        at_baseline = logits(baseline, mask).gather(1, target[:, None])[:, 0]
    assert attributions.shape == (*ids.shape, attributions.shape[-1])  # per token, per feature
    assert_complete(attributions.sum(dim=(1, 2)), delta, at_input, at_baseline)
