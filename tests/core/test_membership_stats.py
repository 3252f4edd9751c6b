"""The membership-inference statistics, each against a case worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core.membership_stats import (
    auc,
    auc_bootstrap_ci,
    auc_permutation_p,
    clopper_pearson,
    cross_fit_flags,
    epsilon_lower_bound,
    min_nonmembers,
    threshold_at_fpr,
    two_folds,
)


def test_auc_counts_pairs_and_ties_half() -> None:
    # Pairs (member, non-member): (3,1) 1, (3,2) 1, (2,1) 1, (2,2) 0.5 -> 3.5 / 4.
    assert auc([3, 2], [1, 2]) == pytest.approx(0.875)
    assert auc([1, 1], [1, 1]) == pytest.approx(0.5)
    assert auc([0], [1, 2]) == pytest.approx(0.0)


def test_bootstrap_ci_of_perfect_and_of_tied_scores_is_a_point() -> None:
    # Every resample of fully separated scores separates them: AUC 1 each time.
    assert auc_bootstrap_ci([5, 6, 7], [1, 2], resamples=200) == (1.0, 1.0)
    assert auc_bootstrap_ci([1, 1, 1], [1, 1], resamples=200) == (0.5, 0.5)


def test_bootstrap_ci_covers_the_auc_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    members, nonmembers = rng.normal(0.5, 1, 200), rng.normal(0, 1, 300)
    low, high = auc_bootstrap_ci(members, nonmembers, seed=3)
    assert low < auc(members, nonmembers) < high
    assert (low, high) == auc_bootstrap_ci(members, nonmembers, seed=3)
    assert 0.05 < high - low < 0.25


def test_permutation_p_matches_the_exact_share_of_labellings() -> None:
    # Members {3,4} against {1,2}: of the C(4,2) = 6 ways to pick two "members", only the
    # true one reaches AUC 1, so the exact p-value is 1/6.
    p = auc_permutation_p([3, 4], [1, 2], permutations=4000, seed=0)
    assert p == pytest.approx(1 / 6, abs=0.02)
    # Identical scores: every relabelling ties the observed AUC, p = 1.
    assert auc_permutation_p([1, 1], [1, 1], permutations=100) == 1.0


def test_permutation_p_is_small_for_separated_scores_and_never_zero() -> None:
    p = auc_permutation_p(np.arange(50, 100), np.arange(50), permutations=999)
    assert p == pytest.approx(1 / 1000)


def test_two_folds_are_balanced_and_seeded() -> None:
    folds = two_folds(11, seed=4)
    assert sorted(folds.tolist()) == [0] * 6 + [1] * 5
    assert np.array_equal(folds, two_folds(11, seed=4))
    assert not np.array_equal(two_folds(200, seed=1), two_folds(200, seed=2))


def test_threshold_at_fpr_flags_at_most_that_share() -> None:
    scores = np.arange(100.0)  # 0..99
    # 1% of 100: one record above the threshold, so T is the second largest, 98.
    assert threshold_at_fpr(scores, 0.01) == 98.0
    assert threshold_at_fpr(scores, 0.05) == 94.0
    # Fewer records than 1/FPR: no record may be flagged, T is the maximum.
    assert threshold_at_fpr(np.arange(10.0), 0.01) == 9.0


def test_cross_fit_judges_each_fold_by_the_other_folds_threshold() -> None:
    # Fold 0's non-members score 0..999 (/1000), fold 1's are shifted up by 0.5. The 1%
    # threshold fitted on fold 0 (0.989) flags 510 of fold 1's, the one fitted on fold 1
    # (1.489) flags none of fold 0's. Fitted on the evaluation fold itself, each
    # fold would flag exactly 10 (1%): this count tells the two apart.
    base = np.arange(1000) / 1000
    nonmembers = np.concatenate([base, base + 0.5])
    folds = np.array([0] * 1000 + [1] * 1000)
    members = np.array([2.0, 2.0, 0.0, 0.0])
    member_folds = np.array([0, 1, 0, 1])
    member_flags, nonmember_flags = cross_fit_flags(members, nonmembers, member_folds, folds, 0.01)
    # Fold 1 judged with T = 0.989: 0.5 + k/1000 > 0.989 for k >= 490 -> 510 flagged.
    assert nonmember_flags[folds == 1].sum() == 510
    assert nonmember_flags[folds == 0].sum() == 0
    assert member_flags.tolist() == [True, True, False, False]


def test_min_nonmembers_is_ten_over_fpr() -> None:
    assert min_nonmembers(0.01) == 1000
    assert min_nonmembers(0.001) == 10000


def test_clopper_pearson_edges_have_closed_forms() -> None:
    # k = 0: upper = 1 - (a/2)^(1/n); k = n: lower = (a/2)^(1/n).
    low, high = clopper_pearson(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    low, high = clopper_pearson(10, 10)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 10))
    # k = 1 of n = 1 at 90%: lower = 0.05.
    assert clopper_pearson(1, 1, 0.9)[0] == pytest.approx(0.05)


def test_clopper_pearson_refuses_a_count_that_is_not_a_proportion() -> None:
    with pytest.raises(ValueError, match="not a proportion"):
        clopper_pearson(3, 2)


def test_epsilon_lower_bound_by_hand() -> None:
    # All 100 members flagged, none of 1000 non-members:
    # TPR_lo = 0.025^(1/100), FPR_hi = 1 - 0.025^(1/1000); eps = log(TPR_lo / FPR_hi).
    tpr_low = 0.025 ** (1 / 100)
    fpr_high = 1 - 0.025 ** (1 / 1000)
    expected = math.log(tpr_low / fpr_high)
    assert epsilon_lower_bound(100, 100, 0, 1000) == pytest.approx(expected)
    assert expected == pytest.approx(5.567, abs=1e-3)


def test_epsilon_uses_the_negative_side_when_it_is_tighter() -> None:
    # No member flagged, every non-member flagged: TPR_lo = 0 and FPR_hi = 1, so neither
    # side bounds anything (an inverted attack is not evidence here).
    assert epsilon_lower_bound(0, 100, 1000, 1000) == 0.0
    # Every member flagged and 1% of non-members: log((1 - FPR_hi) / (1 - TPR_lo)) uses
    # the missed members, none of 50, and is the larger side.
    tpr_low, fpr_high = clopper_pearson(50, 50)[0], clopper_pearson(500, 1000)[1]
    assert epsilon_lower_bound(50, 50, 500, 1000) == pytest.approx(
        max(math.log(tpr_low / fpr_high), math.log((1 - fpr_high) / (1 - tpr_low)))
    )
    assert math.log((1 - fpr_high) / (1 - tpr_low)) > math.log(tpr_low / fpr_high)
    # TPR 0.5 of 20, FPR 0 of 20: small samples, a small bound, never negative.
    eps = epsilon_lower_bound(10, 20, 0, 20)
    tpr_low = clopper_pearson(10, 20)[0]
    fpr_high = clopper_pearson(0, 20)[1]
    assert eps == pytest.approx(max(0.0, math.log(tpr_low / fpr_high)))


def test_epsilon_of_an_attack_no_better_than_chance_is_zero() -> None:
    assert epsilon_lower_bound(10, 1000, 10, 1000) == 0.0
