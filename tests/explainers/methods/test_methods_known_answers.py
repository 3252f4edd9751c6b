"""Methods against answers computed by hand: linear models, where most attribution methods
agree exactly, IG's completeness on a small conv net, and occlusion on a model that sees
only one pixel block."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from harness.explainers.methods.base import AttributionRequest
from harness.explainers.methods.registry import METHODS


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# f(x) = W x + b with two outputs; sample 0 is attributed to output 0, sample 1 to output 1.
W = torch.tensor([[0.5, -2.0, 1.5, 0.0, 3.0], [-1.0, 0.25, 2.0, -0.5, 1.0]])
X = torch.tensor([[1.0, 2.0, -1.0, 0.5, 0.25], [-0.5, 1.0, 3.0, -2.0, 1.5]])
BASELINE = torch.tensor([[0.2, -0.1, 0.3, 0.0, -0.4]]).expand(2, 5).clone()
TARGET = torch.tensor([0, 1])
W_TARGET = W[TARGET]  # the weight row each sample is attributed to


def linear_model() -> nn.Linear:
    model = nn.Linear(5, 2)
    with torch.no_grad():
        model.weight.copy_(W)
        model.bias.copy_(torch.tensor([0.3, -0.7]))
    return model.eval()


def linear_request(baseline: torch.Tensor = BASELINE) -> AttributionRequest:
    return AttributionRequest(linear_model(), (X,), TARGET, baseline, "vector")


@pytest.mark.parametrize("n_steps", [1, 5, 50])
def test_ig_on_a_linear_model_is_the_difference_times_the_weights(n_steps: int) -> None:
    out = METHODS["integrated_gradients"](n_steps=n_steps).attribute(linear_request())
    torch.testing.assert_close(out.attributions, (X - BASELINE) * W_TARGET, atol=1e-5, rtol=0)
    assert out.convergence_delta is not None
    assert out.convergence_delta.abs().max() < 1e-5


def test_saliency_on_a_linear_model_is_the_absolute_weights() -> None:
    out = METHODS["saliency"]().attribute(linear_request())
    torch.testing.assert_close(out.attributions, W_TARGET.abs(), atol=1e-6, rtol=0)
    signed = METHODS["saliency"](abs=False).attribute(linear_request())
    torch.testing.assert_close(signed.attributions, W_TARGET, atol=1e-6, rtol=0)


def test_input_x_gradient_on_a_linear_model_is_input_times_weights() -> None:
    out = METHODS["input_x_gradient"]().attribute(linear_request())
    torch.testing.assert_close(out.attributions, X * W_TARGET, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "name", ["deeplift", "gradient_shap", "feature_ablation", "occlusion", "shapley_value_sampling"]
)
def test_exact_methods_on_a_linear_model(name: str) -> None:
    # Each of these is exactly (x - baseline) * w on a linear model (GradientShap because
    # every baseline row is the same and stdevs is 0; Shapley values because a linear model
    # has no interactions, whatever the orderings drawn).
    cls = METHODS[name]
    params = {k: v for k, v in {"n_samples": 3}.items() if k in cls.DEFAULTS}
    out = cls(**params).attribute(linear_request())
    torch.testing.assert_close(out.attributions, (X - BASELINE) * W_TARGET, atol=1e-5, rtol=0)


def test_kernel_shap_on_a_linear_model_recovers_the_answer() -> None:
    out = METHODS["kernel_shap"](n_samples=200).attribute(linear_request())
    torch.testing.assert_close(out.attributions, (X - BASELINE) * W_TARGET, atol=1e-3, rtol=0)


def test_layer_integrated_gradients_on_a_bag_of_embeddings() -> None:
    # f(ids) = w . sum_t E[ids_t]: each token's attribution is w . (E[id] - E[pad]).
    embedding = nn.Embedding(10, 4)
    head = nn.Linear(4, 1, bias=False)
    model = nn.Sequential(embedding, SumOverTokens(), head).eval()
    ids = torch.tensor([[3, 1, 4, 1], [5, 9, 2, 6]])
    pad = torch.zeros_like(ids)
    request = AttributionRequest(model, (ids,), 0, pad, "tokens", layer=embedding)
    out = METHODS["layer_integrated_gradients"](n_steps=3).attribute(request)
    with torch.no_grad():
        expected = (embedding(ids) - embedding(pad)) @ head.weight[0]
    torch.testing.assert_close(out.attributions, expected, atol=1e-5, rtol=0)


class SumOverTokens(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(1)


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(hidden).flatten(1))


def test_ig_completeness_on_a_conv_net() -> None:
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.randn(2, 1, 8, 8)
    baseline = torch.zeros_like(x)
    target = torch.tensor([1, 2])
    request = AttributionRequest(model, (x,), target, baseline, "image")
    out = METHODS["integrated_gradients"](n_steps=64).attribute(request)
    with torch.no_grad():
        rows = torch.arange(2)
        gap = model(x)[rows, target] - model(baseline)[rows, target]
    total = out.attributions.flatten(1).sum(1)
    assert out.convergence_delta is not None
    torch.testing.assert_close(out.convergence_delta, total - gap, atol=1e-5, rtol=0)
    # Completeness within 2% of f(x) - f(baseline): the ReLU kinks limit the quadrature.
    assert ((total - gap).abs() <= 0.02 * gap.abs() + 1e-5).all()


class SeesOneBlock(nn.Module):
    """Two outputs from the 2x2 block at rows 2-3, columns 4-5 of channel 0 only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = x[:, 0, 2:4, 4:6].flatten(1)
        return torch.stack([block.sum(1), (block**2).sum(1)], dim=1)


@pytest.mark.parametrize("window", [1, 2])
def test_occlusion_attributes_only_the_block_the_model_sees(window: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 2, 8, 8) + 0.5
    request = AttributionRequest(SeesOneBlock(), (x,), 0, torch.zeros_like(x), "image")
    out = METHODS["occlusion"](window=window).attribute(request)
    inside = torch.zeros_like(x, dtype=torch.bool)
    inside[:, :, 2:4, 4:6] = True  # windows span all channels
    assert out.attributions[~inside].abs().max() == 0
    assert (out.attributions[inside] > 0).all()
    assert out.parameters["sliding_window_shapes"] == f"2x{window}x{window}"


def test_gradcam_upsamples_to_the_input_size() -> None:
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.randn(2, 1, 8, 8)
    request = AttributionRequest(model, (x,), 0, torch.zeros_like(x), "image", layer=model.conv2)
    out = METHODS["layer_gradcam"](interpolate_mode="nearest").attribute(request)
    assert out.attributions.shape == x.shape
    assert (out.attributions >= 0).all()  # ReLU'd by default
    assert out.parameters["layer_map_shape"] == "8x8"
