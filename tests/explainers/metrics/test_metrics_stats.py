"""harness.explainers.metrics.stats against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.explainers.metrics.stats import (
    auroc,
    entropy,
    gini,
    pearson,
    rankdata,
    spearman,
    top_k_overlap,
    trapezoid,
)


def test_rankdata_averages_ties() -> None:
    # 10 -> 1; the two 20s share ranks 2 and 3 -> 2.5; 30 -> 4.
    assert rankdata([20, 10, 30, 20]).tolist() == [2.5, 1.0, 4.0, 2.5]
    assert rankdata([5, 5, 5]).tolist() == [2.0, 2.0, 2.0]


def test_pearson_hand_computed() -> None:
    # x = [1, 2, 3], y = [1, 3, 2]: deviations (-1, 0, 1) and (-1, 1, 0);
    # cov sum = 1, sum of squares 2 and 2 -> 1 / 2.
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_pearson_undefined_for_constant_or_single() -> None:
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(pearson([1], [2]))


def test_spearman_monotone_is_one_and_reversed_minus_one() -> None:
    x = [0.1, 0.5, 2.0, 9.0]
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, [-(v**3) for v in x]) == pytest.approx(-1.0)


def test_spearman_with_ties_hand_computed() -> None:
    # ranks of [1, 2, 2, 3] = [1, 2.5, 2.5, 4]; of [1, 2, 3, 4] = [1, 2, 3, 4].
    # Deviations (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 0.5, 1.5): cov 4.5, squares 4.5 and 5.
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def test_auroc_perfect_inverted_tied() -> None:
    labels = [False, False, True, True]
    assert auroc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], labels) == 0.5


def test_auroc_hand_computed_partial() -> None:
    # Positives score 0.3 and 0.9, negatives 0.1 and 0.5: of the 4 pairs, 3 are ordered
    # right (0.3 > 0.1, 0.9 > 0.1, 0.9 > 0.5) -> 0.75. A tie counts one half.
    assert auroc([0.1, 0.3, 0.5, 0.9], [False, True, False, True]) == 0.75
    assert auroc([0.1, 0.5, 0.5, 0.9], [False, True, False, True]) == 0.875


def test_auroc_undefined_with_one_class() -> None:
    assert math.isnan(auroc([0.1, 0.2], [True, True]))
    assert math.isnan(auroc([0.1, 0.2], [False, False]))


def test_gini_hand_computed() -> None:
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert gini([3, 3, 3, 3]) == pytest.approx(0.0)
    # [1, 3] sorted: 1 - 2 * (1/4 * 1.5/2 + 3/4 * 0.5/2) = 1 - 2 * 0.375 = 0.25.
    assert gini([3, 1]) == pytest.approx(0.25)
    assert math.isnan(gini([0, 0]))


def test_entropy_hand_computed() -> None:
    assert entropy([1, 1, 1, 1]) == pytest.approx(math.log(4))
    assert entropy([0, 5, 0]) == pytest.approx(0.0)
    # p = (1/4, 3/4): -(0.25 ln 0.25 + 0.75 ln 0.75).
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert entropy([1, 3]) == pytest.approx(expected)
    assert math.isnan(entropy([0, 0]))


def test_gini_and_entropy_reject_negative_values() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        gini([1, -1])
    with pytest.raises(ValueError, match="non-negative"):
        entropy([1, -1])


def test_top_k_overlap_hand_computed() -> None:
    a = [9, 8, 7, 1, 0]
    b = [9, 0, 8, 7, 1]
    assert top_k_overlap(a, b, 2) == 0.5  # {0, 1} vs {0, 2}
    assert top_k_overlap(a, b, 3) == pytest.approx(2 / 3)  # {0, 1, 2} vs {0, 2, 3}
    assert top_k_overlap(a, a, 1) == 1.0


def test_trapezoid_hand_computed() -> None:
    assert trapezoid([1, 0], [0, 1]) == pytest.approx(0.5)
    assert trapezoid([0, 1, 1], [0, 0.5, 1]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="ascending"):
        trapezoid([0, 1], [1, 0])


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        spearman([1, float("nan")], [1, 2])
