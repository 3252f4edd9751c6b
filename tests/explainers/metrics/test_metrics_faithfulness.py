"""Faithfulness correlation, deletion and insertion on models whose answers are known."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from harness.core.errors import UsageError
from harness.explainers.metrics import (
    deletion,
    faithfulness_correlation,
    insertion,
    random_attributions,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _linear(n_features: int = 12, n_outputs: int = 3) -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(n_features, n_outputs)


def _exact(model: torch.nn.Linear, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A linear model's exact attributions for baseline 0: w_target * x."""
    return (model.weight[target] * x).detach()


X = torch.randn(6, 12, generator=torch.Generator().manual_seed(1))
TARGET = torch.tensor([0, 1, 2, 0, 1, 2])


# --- faithfulness correlation ---------------------------------------------------------


def test_faithfulness_of_exact_linear_attributions_is_one() -> None:
    model = _linear()
    result = faithfulness_correlation(model, X, _exact(model, X, TARGET), TARGET, n_subsets=20)
    # The output drop of removing S is exactly the sum of the exact attributions over S.
    assert result.value == pytest.approx(1.0, abs=1e-9)
    assert result.higher_is_better
    assert len(result.per_sample) == 6
    negated = faithfulness_correlation(model, X, -_exact(model, X, TARGET), TARGET, n_subsets=20)
    assert negated.value == pytest.approx(-1.0, abs=1e-9)


def test_faithfulness_of_random_attributions_is_near_zero() -> None:
    model = _linear(n_features=32)
    x = torch.randn(24, 32, generator=torch.Generator().manual_seed(2))
    target = torch.zeros(24, dtype=torch.long)
    random = random_attributions(x, seed=3)
    result = faithfulness_correlation(model, x, random, target, n_subsets=60, subset_size=0.25)
    # 24 samples x 60 subsets: the mean of independent correlations sits near 0.
    assert abs(result.value) < 0.15


def test_faithfulness_is_deterministic_under_seed() -> None:
    model = _linear()
    random = random_attributions(X, seed=0)
    first = faithfulness_correlation(model, X, random, TARGET, seed=5)
    again = faithfulness_correlation(model, X, random, TARGET, seed=5)
    other = faithfulness_correlation(model, X, random, TARGET, seed=6)
    assert first == again
    assert first.per_sample != other.per_sample
    assert first.parameters["seed"] == 5 and first.parameters["n_subsets"] == 50


def test_faithfulness_with_patches_sums_attributions_per_group() -> None:
    # 2x4 "image" in 4 patches of 2 pixels: removing a patch drops the output by the sum of
    # its pixels' exact attributions, so grouped exact attributions still correlate 1.
    model = _linear(n_features=8, n_outputs=1)
    x = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(4))

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return model(batch.reshape(batch.shape[0], -1))

    exact = (model.weight[0].reshape(2, 4) * x).detach()
    patches = torch.tensor([[0, 0, 1, 1], [2, 2, 3, 3]])
    result = faithfulness_correlation(
        forward, x, exact, feature_mask=patches, n_subsets=10, subset_size=0.5
    )
    assert result.value == pytest.approx(1.0, abs=1e-9)


def test_faithfulness_on_token_ids_uses_a_baseline_token() -> None:
    # Score = sum of per-token weights; replacing a token by PAD (weight 0) drops exactly
    # its weight, so attributions equal to the weights are exact.
    weights = torch.linspace(-1.0, 2.0, 10)
    ids = torch.tensor([[3, 5, 7, 9, 1], [2, 4, 6, 8, 1]])
    weights[0] = 0.0  # PAD

    def forward(tokens: torch.Tensor) -> torch.Tensor:
        return weights[tokens].sum(dim=1)

    result = faithfulness_correlation(forward, ids, weights[ids], baseline=0, n_subsets=10)
    assert result.value == pytest.approx(1.0, abs=1e-9)


def test_faithfulness_refuses_a_multi_output_model_without_target() -> None:
    model = _linear()
    with pytest.raises(UsageError, match="pass target"):
        faithfulness_correlation(model, X, _exact(model, X, TARGET))


# --- deletion and insertion -----------------------------------------------------------


def _weighted_sum(batch: torch.Tensor) -> torch.Tensor:
    return batch @ torch.tensor([1.0, 2.0, 3.0])


def test_deletion_and_insertion_hand_computed() -> None:
    x = torch.ones(1, 3)
    attr = torch.tensor([[1.0, 2.0, 3.0]])
    raw: dict[str, Any] = {"use_softmax": False, "normalise": False, "steps": 3}
    # Deletion removes 3, then 2, then 1: scores 6, 3, 1, 0 at t = 0, 1/3, 2/3, 1;
    # area = 1/3 * ((6 + 3) + (3 + 1) + (1 + 0)) / 2 = 7/3.
    gone = deletion(_weighted_sum, x, attr, **raw)
    assert gone.value == pytest.approx(7 / 3)
    assert gone.curve is not None
    assert [y for _, y in gone.curve] == pytest.approx([6, 3, 1, 0])
    assert [t for t, _ in gone.curve] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    # Insertion adds 3, then 2, then 1: scores 0, 3, 5, 6 -> 1/3 * (3 + 8 + 11) / 2 = 11/3.
    back = insertion(_weighted_sum, x, attr, **raw)
    assert back.value == pytest.approx(11 / 3)
    # Normalised by f(x) = 6.
    assert deletion(_weighted_sum, x, attr, use_softmax=False, steps=3).value == pytest.approx(
        7 / 18
    )
    assert not gone.higher_is_better and back.higher_is_better


def test_exact_ranking_beats_reversed_ranking() -> None:
    model = _linear(n_outputs=1)
    x = torch.randn(8, 12, generator=torch.Generator().manual_seed(7))
    exact = (model.weight[0] * x).detach()
    options: dict[str, Any] = {"use_softmax": False, "normalise": False, "steps": 12}
    # Removing the largest contributions first lowers a linear output fastest.
    assert deletion(model, x, exact, **options).value < deletion(model, x, -exact, **options).value
    assert (
        insertion(model, x, exact, **options).value > insertion(model, x, -exact, **options).value
    )
    for a, b in zip(
        deletion(model, x, exact, **options).per_sample,
        deletion(model, x, -exact, **options).per_sample,
        strict=True,
    ):
        assert a < b


def test_softmax_curves_are_kept_on_an_even_grid() -> None:
    model = _linear()
    result = deletion(model, X, _exact(model, X, TARGET), TARGET, steps=4)
    assert result.curve is not None
    assert [t for t, _ in result.curve] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert result.curve[0][1] == pytest.approx(1.0)  # every curve starts at f(x) / f(x)
    assert result.parameters["use_softmax"] == 1 and result.parameters["steps"] == 4


def test_constant_attributions_are_ranked_in_a_seeded_random_order() -> None:
    model = _linear(n_outputs=1)
    flat = torch.zeros_like(X)
    options: dict[str, Any] = {"use_softmax": False, "normalise": False}
    a = deletion(model, X, flat, seed=1, **options)
    assert a == deletion(model, X, flat, seed=1, **options)
    assert a.per_sample != deletion(model, X, flat, seed=2, **options).per_sample


def test_normalised_curve_undefined_for_non_positive_score() -> None:
    x = -torch.ones(1, 3)  # f(x) = -6
    result = insertion(_weighted_sum, x, x, use_softmax=False)
    assert np.isnan(result.value) and result.curve is None


def test_additional_forward_args_follow_each_sample_through_chunks() -> None:
    # forward(ids, mask) sums the weights of real tokens; the mask rides along per sample,
    # and batch_size 3 splits each sample's perturbations into several forward calls.
    weights = torch.linspace(0.5, 3.0, 10)
    ids = torch.tensor([[3, 5, 7, 9], [2, 4, 6, 8]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    calls = []

    def forward(tokens: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        calls.append(tokens.shape[0])
        assert attention.shape == tokens.shape
        return (weights[tokens] * attention).sum(dim=1)

    pad_weight = float(weights[0])
    exact = (weights[ids] - pad_weight) * mask  # replacing a token by PAD (id 0)
    options: dict[str, Any] = {"additional_forward_args": (mask,), "batch_size": 3}
    result = faithfulness_correlation(forward, ids, exact, n_subsets=8, subset_size=0.5, **options)
    assert result.value == pytest.approx(1.0, abs=1e-9)
    assert max(calls) == 3
    gone = deletion(forward, ids, exact, use_softmax=False, normalise=False, steps=4, **options)
    # The curve runs from the mean f(x) to the mean f(all PAD), each sample with its mask.
    f_x = float(weights[[3, 5, 7]].sum() + weights[[2, 4]].sum()) / 2
    f_pad = (3 * pad_weight + 2 * pad_weight) / 2
    assert gone.curve is not None and len(gone.curve) == 5
    assert gone.curve[0][1] == pytest.approx(f_x) and gone.curve[-1][1] == pytest.approx(f_pad)
