"""Completeness, infidelity and max-sensitivity on a linear model, where they are exact."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from captum.attr import IntegratedGradients

from harness.core.errors import UsageError
from harness.explainers.metrics import (
    completeness,
    infidelity,
    max_sensitivity,
    random_attributions,
    random_explainer,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


torch.manual_seed(0)
MODEL = torch.nn.Linear(10, 3)
X = torch.randn(5, 10, generator=torch.Generator().manual_seed(1))
TARGET = torch.tensor([0, 1, 2, 0, 1])
W = MODEL.weight.detach()[TARGET]


# --- completeness ---------------------------------------------------------------------


def test_integrated_gradients_on_a_linear_model_is_complete() -> None:
    attributions = IntegratedGradients(MODEL).attribute(X, target=TARGET, n_steps=8)
    result = completeness(MODEL, X, attributions, TARGET)
    assert result.value == pytest.approx(0.0, abs=1e-5)
    assert not result.higher_is_better
    relative = completeness(MODEL, X, attributions, TARGET, relative=True)
    assert relative.name == "completeness_relative" and relative.value < 1e-5


def test_completeness_gap_hand_computed() -> None:
    # f(x) = 1 x1 + 2 x2 + 0.5 at x = (1, 1), baseline 0: f(x) - f(0) = 3. Attributions
    # summing to 2 miss by 1: absolute 1, relative 1/3.
    def forward(batch: torch.Tensor) -> torch.Tensor:
        return batch @ torch.tensor([1.0, 2.0]) + 0.5

    x = torch.ones(1, 2)
    attr = torch.tensor([[1.5, 0.5]])
    assert completeness(forward, x, attr).value == pytest.approx(1.0)
    assert completeness(forward, x, attr, relative=True).value == pytest.approx(1 / 3)


def test_relative_completeness_undefined_when_the_output_does_not_move() -> None:
    def forward(batch: torch.Tensor) -> torch.Tensor:
        return batch.sum(dim=1) * 0.0

    result = completeness(forward, torch.ones(2, 3), torch.ones(2, 3), relative=True)
    assert all(math.isnan(v) for v in result.per_sample) and math.isnan(result.value)
    assert result.to_dict()["per_sample"] == [None, None]


# --- infidelity -----------------------------------------------------------------------


def test_infidelity_of_exact_attributions_is_zero() -> None:
    exact = W * X  # multiplies by the inputs: perturbations are read relative to x
    result = infidelity(MODEL, X, exact, TARGET, n_perturb_samples=8)
    assert result.value == pytest.approx(0.0, abs=1e-6)
    chance = infidelity(MODEL, X, random_attributions(X, seed=1), TARGET, n_perturb_samples=8)
    assert chance.value > 100 * max(result.value, 1e-9)
    # A gradient is exact when perturbations are read in the input's units.
    gradient = infidelity(MODEL, X, W, TARGET, multiply_by_inputs=False, n_perturb_samples=8)
    assert gradient.value == pytest.approx(0.0, abs=1e-6)
    assert result.parameters["noise_std"] == 0.1 and not result.higher_is_better


def test_infidelity_is_deterministic_under_seed() -> None:
    attr = random_attributions(X, seed=2)
    first = infidelity(MODEL, X, attr, TARGET, n_perturb_samples=4, seed=3)
    assert first == infidelity(MODEL, X, attr, TARGET, n_perturb_samples=4, seed=3)
    assert first != infidelity(MODEL, X, attr, TARGET, n_perturb_samples=4, seed=4)


def test_infidelity_refuses_token_ids() -> None:
    ids = torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(UsageError, match="embedding"):
        infidelity(lambda t: t.float(), ids, torch.ones(2, 4), 0)


# --- max-sensitivity ------------------------------------------------------------------


def _gradient_times_input(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(MODEL(x).gather(1, target[:, None]).sum(), x)
    return gradient * x


def test_max_sensitivity_of_a_linear_models_gradient_is_zero() -> None:
    def saliency(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _gradient_times_input(x, target) / x  # the gradient: constant in x

    assert max_sensitivity(saliency, X, TARGET).value == pytest.approx(0.0, abs=1e-6)


def test_max_sensitivity_is_bounded_by_the_radius_for_gradient_times_input() -> None:
    # w * (x + d) - w * x = w * d with |d| <= r elementwise: relative change <= r ||w|| / ||w x||.
    radius = 0.01
    result = max_sensitivity(_gradient_times_input, X, TARGET, radius=radius, seed=1)
    bound = radius * W.norm(dim=1) / (W * X).norm(dim=1)
    for value, limit in zip(result.per_sample, bound.tolist(), strict=True):
        assert 0.0 < value <= limit + 1e-9
    assert result == max_sensitivity(_gradient_times_input, X, TARGET, radius=radius, seed=1)
    assert result.parameters["radius"] == radius


def test_random_explainer_is_far_from_robust() -> None:
    result = max_sensitivity(random_explainer(seed=0), X, n_perturb_samples=4)
    assert result.value > 0.5


def test_infidelity_accepts_numpy_outputs_and_a_single_output() -> None:
    # An onnxruntime wrapper may hand back numpy; a regressor has one output and no target.
    w = torch.tensor([1.0, -2.0, 0.5])

    def forward(batch: torch.Tensor) -> object:
        return (batch @ w).numpy()[:, None]

    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(5))
    assert infidelity(forward, x, w * x, n_perturb_samples=4).value == pytest.approx(0, abs=1e-6)
