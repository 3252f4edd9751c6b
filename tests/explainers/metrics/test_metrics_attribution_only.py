"""Metrics of the attributions alone: sparseness, complexity, agreement, ground truth,
the random baseline, the result record, and how attributions group into features."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from harness.core.errors import UsageError
from harness.explainers.metrics import (
    MetricResult,
    agreement,
    complexity,
    ground_truth_auroc,
    metric_result,
    random_attributions,
    random_explainer,
    sparseness,
    top_k_precision,
)
from harness.explainers.metrics._features import features

# --- sparseness and complexity --------------------------------------------------------


def test_sparseness_hand_computed() -> None:
    attr = np.array([[0.0, 0.0, 0.0, -2.0], [1.0, -1.0, 1.0, -1.0]])
    result = sparseness(attr)
    assert result.per_sample == pytest.approx((0.75, 0.0))  # |attr| is used
    assert result.value == pytest.approx(0.375) and result.higher_is_better


def test_complexity_hand_computed() -> None:
    attr = torch.tensor([[1.0, -1.0, 1.0, -1.0], [0.0, 5.0, 0.0, 0.0]])
    result = complexity(attr)
    assert result.per_sample == pytest.approx((math.log(4), 0.0))
    assert not result.higher_is_better


def test_grouped_sparseness_sums_each_patch() -> None:
    # Patches {0, 1} and {2, 3}: sums 2 and 2 -> uniform -> Gini 0, entropy log 2.
    attr = np.array([[2.0, 0.0, 1.0, 1.0]])
    patches = np.array([0, 0, 1, 1])
    assert sparseness(attr, feature_mask=patches).value == pytest.approx(0.0)
    assert complexity(attr, feature_mask=patches).value == pytest.approx(math.log(2))


def test_all_zero_attributions_are_undefined_not_zero() -> None:
    result = sparseness(np.zeros((2, 3)))
    assert math.isnan(result.value) and result.n_defined == 0


# --- agreement ------------------------------------------------------------------------


def test_agreement_matrix_hand_computed() -> None:
    a = np.array([[4.0, 3.0, 2.0, 1.0]])
    same_order = np.array([[40.0, 30.0, 20.0, 10.0]])
    reversed_order = np.array([[1.0, 2.0, 3.0, 4.0]])
    result = agreement(
        {"a": a, "b": same_order, "c": reversed_order}, top_k_fraction=0.5, absolute=False
    )
    assert result.names == ("a", "b", "c")
    assert result.pair("a", "b") == pytest.approx((1.0, 1.0))
    # Reversed: Spearman -1; top-2 {0, 1} vs {3, 2} share nothing.
    assert result.pair("a", "c") == pytest.approx((-1.0, 0.0))
    assert result.spearman[2][0] == result.spearman[0][2]
    assert result.spearman[1][1] == 1.0


def test_agreement_compares_magnitudes_by_default() -> None:
    a = np.array([[4.0, -3.0, 2.0, -1.0]])
    flipped = -a
    assert agreement({"a": a, "b": flipped}).pair("a", "b")[0] == pytest.approx(1.0)


def test_agreement_refuses_mismatched_shapes() -> None:
    with pytest.raises(UsageError, match="differ in shape"):
        agreement({"a": np.ones((1, 4)), "b": np.ones((1, 5))})


# --- ground truth ---------------------------------------------------------------------


def test_ground_truth_auroc_and_precision_hand_computed() -> None:
    truth = np.array([[False, True, False, True], [True, False, False, False]])
    attr = np.array([[0.1, -0.9, 0.5, 0.3], [0.0, 0.0, 0.0, 0.0]])
    # Sample 0: |attr| positives 0.9, 0.3; negatives 0.1, 0.5 -> 3 of 4 pairs -> 0.75.
    # Sample 1: all tied -> 0.5.
    auc = ground_truth_auroc(attr, truth)
    assert auc.per_sample == pytest.approx((0.75, 0.5))
    # Precision at k = 2: top two {0.9, 0.5} hold one truth -> 0.5. Sample 1, k = 1, four
    # tied features share the slot -> 1/4 expected.
    precision = top_k_precision(attr, truth)
    assert precision.per_sample == pytest.approx((0.5, 0.25))


def test_ground_truth_perfect_and_inverted() -> None:
    truth = np.array([[True, True, False, False, False]])
    assert ground_truth_auroc(np.array([[5, 4, 1, 2, 3]]), truth).value == 1.0
    assert ground_truth_auroc(np.array([[1, 2, 5, 4, 3]]), truth).value == 0.0
    assert top_k_precision(np.array([[5, 4, 1, 2, 3]]), truth).value == 1.0


def test_ground_truth_without_relevant_features_is_undefined() -> None:
    # Trigger-token class 0 has no trigger: that sample is left out of the mean.
    truth = np.array([[False, False, False], [True, False, False]])
    attr = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    result = ground_truth_auroc(attr, truth)
    assert math.isnan(result.per_sample[0]) and result.value == 1.0


def test_ground_truth_leaves_out_invalid_positions() -> None:
    # Padding (valid False) scores 0 and is irrelevant; without the valid mask it would
    # count as correctly ranked negatives.
    truth = np.array([[True, False, False, False]])
    attr = np.array([[0.5, 0.9, 0.0, 0.0]])
    valid = np.array([[True, True, False, False]])
    assert ground_truth_auroc(attr, truth).value == pytest.approx(2 / 3)
    assert ground_truth_auroc(attr, truth, valid=valid).value == 0.0


def test_ground_truth_on_image_channels_broadcasts_a_pixel_mask() -> None:
    attr = np.zeros((1, 2, 2, 2))
    attr[0, :, 0, 0] = 1.0  # both channels of pixel (0, 0)
    truth = np.zeros((1, 2, 2, 2), dtype=bool)
    truth[0, :, 0, 0] = True
    assert ground_truth_auroc(attr, truth).value == 1.0


# --- random baseline ------------------------------------------------------------------


def test_random_attributions_are_seeded_and_shaped_like_the_input() -> None:
    x = torch.zeros(2, 3, 4)
    a = random_attributions(x, seed=1)
    assert isinstance(a, torch.Tensor) and a.shape == x.shape
    assert torch.equal(a, random_attributions(x, seed=1))
    assert not torch.equal(a, random_attributions(x, seed=2))
    assert float(a.abs().max()) <= 1.0
    normal = random_attributions(np.zeros((1000,)), seed=0, distribution="normal")
    assert isinstance(normal, np.ndarray) and abs(float(normal.std()) - 1.0) < 0.1


def test_random_explainer_draws_afresh_in_a_seeded_sequence() -> None:
    x = torch.zeros(1, 5)
    first, second = random_explainer(seed=0), random_explainer(seed=0)
    a1, a2 = first(x), first(x)
    assert not torch.equal(a1, a2)
    assert torch.equal(a1, second(x)) and torch.equal(a2, second(x))


# --- the result record and features ---------------------------------------------------


def test_metric_result_mean_skips_undefined_samples_and_serialises() -> None:
    result = metric_result("m", [1.0, math.nan, 3.0], higher_is_better=True, parameters={"k": 1})
    assert result.value == 2.0 and result.n_defined == 2
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["per_sample"] == [1.0, None, 3.0]
    assert isinstance(result, MetricResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = 0.0  # type: ignore[misc]


def test_token_attributions_cover_their_embedding_vectors() -> None:
    feats = features(np.array([[1.0, 2.0, 3.0]]), input_shape=(1, 3, 4))
    assert feats.attributions[0].tolist() == [1.0, 2.0, 3.0]
    # Token t's 4 embedding entries all belong to feature t.
    assert feats.labels[0].shape == (3, 4)
    assert feats.labels[0].tolist() == [[0] * 4, [1] * 4, [2] * 4]


def test_per_sample_feature_masks_and_mean_reduction() -> None:
    attr = np.array([[2.0, 2.0, 6.0], [1.0, 3.0, 5.0]])
    masks = np.array([[0, 0, 1], [0, 1, 1]])
    summed = features(attr, None, masks)
    assert [a.tolist() for a in summed.attributions] == [[4.0, 6.0], [1.0, 8.0]]
    averaged = features(attr, None, masks, "mean")
    assert [a.tolist() for a in averaged.attributions] == [[2.0, 6.0], [1.0, 4.0]]


def test_mismatched_attribution_shape_says_what_fits() -> None:
    with pytest.raises(UsageError, match="trailing axes of size 1"):
        features(np.ones((2, 5)), input_shape=(2, 4))
    with pytest.raises(UsageError, match="NaN"):
        features(np.array([[np.nan, 1.0]]))
