"""The randomisation check judged on cases whose answer is known: negative controls that
ignore the weights fail, the positive control passes, in every one of five seeds; the two
similarities and the exclusion of unattributable features decide as documented."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.explainers.metrics import metric_result, mprt, sanity_verdict, torch_cascade
from harness.explainers.metrics.randomisation import sanity_reason
from harness.explainers.metrics.sanity_controls import (
    edge_filter,
    input_itself,
    linear_gradient_times_input,
    linear_model,
    sign_inputs,
)

SEEDS = range(5)
SHAPE = (8, 1, 12, 12)
THRESHOLD = 0.5


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(100 + seed).random(SHAPE)


def _verdict_on_linear(explain, seed: int) -> tuple[str, dict]:
    model = linear_model(int(np.prod(SHAPE[1:])), 3, seed)
    result = mprt(explain, model, torch_cascade(model, seed=seed), absolute=False)
    return sanity_verdict(result, THRESHOLD), result.parameters


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("control", [input_itself, edge_filter])
def test_negative_controls_fail_every_seed(control, seed: int) -> None:
    verdict, params = _verdict_on_linear(control(_image(seed)), seed)
    assert verdict == "fail"
    assert params["signed_correlation"] == pytest.approx(1.0)
    assert params["absolute_correlation"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_positive_control_passes_every_seed(seed: int) -> None:
    explain = linear_gradient_times_input(sign_inputs(SHAPE, seed), target=seed % 3)
    verdict, params = _verdict_on_linear(explain, seed)
    assert verdict == "pass"
    assert abs(params["signed_correlation"]) < 0.2
    assert abs(params["absolute_correlation"]) < 0.2


def test_positive_control_on_gaussian_inputs_is_not_a_clean_pass() -> None:
    # |W x| keeps |x|'s ranks whatever W: the absolute similarity sees what signed does not.
    inputs = np.random.default_rng(7).standard_normal(SHAPE) * np.exp(
        np.random.default_rng(8).standard_normal(SHAPE)
    )
    verdict, params = _verdict_on_linear(linear_gradient_times_input(inputs, 0), 0)
    assert abs(params["signed_correlation"]) < 0.2
    assert params["absolute_correlation"] > THRESHOLD
    assert verdict == "inconclusive"


def test_features_at_the_baseline_do_not_decide() -> None:
    # A perturbation-like method: zero where the input equals the (black) baseline, whatever
    # the weights; elsewhere it follows the weights. Unmasked, the shared zeros keep the
    # ranks correlated; masked, only attributable features are compared.
    inputs = _image(0)
    inputs[:, :, :, :9] = 0.0  # three quarters background
    at_baseline = inputs == 0.0

    def explain(model: torch.nn.Linear) -> np.ndarray:
        weights = model.weight.detach().double().numpy()[0].reshape(SHAPE[1:])
        return np.where(at_baseline, 0.0, np.abs(weights)[None] * np.ones(SHAPE))

    model = linear_model(int(np.prod(SHAPE[1:])), 3, 0)
    unmasked = mprt(explain, model, torch_cascade(model))
    masked = mprt(explain, model, torch_cascade(model), exclude=at_baseline)
    assert sanity_verdict(unmasked, THRESHOLD) == "fail"
    assert sanity_verdict(masked, THRESHOLD) == "pass"
    assert masked.parameters["excluded_features"] == int(at_baseline.sum())
    assert unmasked.parameters["excluded_features"] == 0


def test_exclusion_follows_the_feature_mask() -> None:
    inputs = _image(1)
    inputs[:, :, :6, :] = 0.0
    groups = np.arange(144).reshape(1, 1, 12, 12) // 6  # rows of six elements
    model = linear_model(144, 3, 1)
    result = mprt(
        input_itself(inputs),
        model,
        torch_cascade(model),
        feature_mask=groups,
        exclude=inputs == 0.0,
    )
    # 6 of 12 rows are background: 12 groups of 6 elements per sample, 8 samples
    assert result.parameters["excluded_features"] == 8 * 12


def _result(signed: float, magnitude: float, complete: int = 1):
    return metric_result(
        "mprt",
        [magnitude],
        higher_is_better=False,
        parameters={
            "signed_correlation": signed,
            "absolute_correlation": magnitude,
            "complete": complete,
        },
    )


@pytest.mark.parametrize(
    ("signed", "magnitude", "verdict"),
    [
        (0.1, 0.2, "pass"),
        (0.8, 0.9, "fail"),
        (-0.007, 0.85, "inconclusive"),  # Integrated Gradients on the CNN, issue 17
        (0.9, 0.1, "inconclusive"),
        (float("nan"), float("nan"), "fail"),  # constant attributions never pass
        (float("nan"), 0.1, "inconclusive"),
    ],
)
def test_decision_rule(signed: float, magnitude: float, verdict: str) -> None:
    result = _result(signed, magnitude)
    assert sanity_verdict(result, THRESHOLD) == verdict
    reason = sanity_reason(result, THRESHOLD)
    assert (reason is not None) == (verdict == "inconclusive")


def test_a_partial_cascade_stays_inconclusive_whatever_the_correlations() -> None:
    result = _result(0.9, 0.9, complete=0)
    assert sanity_verdict(result, THRESHOLD) == "inconclusive"
    assert sanity_reason(result, THRESHOLD) is None  # the stage says why (layers done)


def test_constant_attributions_leave_no_nan_in_the_result_and_fail() -> None:
    # every attribution constant: Spearman is undefined. The result must still be finite
    # JSON (an audit wrote NaN into result.json and died with exit 3), and undefined
    # counts as "still similar", so the check fails rather than passes.
    def constant(state):
        return np.ones(SHAPE)

    model = linear_model(int(np.prod(SHAPE[1:])), 3, 0)
    result = mprt(constant, model, torch_cascade(model, seed=0), absolute=False)
    numbers = [v for v in result.parameters.values() if isinstance(v, float)]
    assert all(np.isfinite(numbers))
    assert "signed_correlation" not in result.parameters
    assert sanity_verdict(result, THRESHOLD) == "fail"
