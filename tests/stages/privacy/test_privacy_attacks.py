"""The privacy stage's parts, each against values worked out by hand: the attack scores,
the exact log-softmax, QMIA's calibration, the ROC curve and the exposed records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core.membership_stats import min_nonmembers, two_folds
from harness.stages.privacy.attacks import SCORE_ATTACKS
from harness.stages.privacy.judge import Judged, exposed_records, roc_curve, separation
from harness.stages.privacy.outputs import _log_softmax
from harness.stages.privacy.qmia import Side, margin, qmia_scores

ATTACKS = {attack.name: attack for attack in SCORE_ATTACKS}
# Two records, three classes; record 0 is labelled 0, record 1 labelled 2.
P = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])
LABELS = np.array([0, 2])


def _score(name: str) -> np.ndarray:
    return ATTACKS[name].score(np.log(P), LABELS)


def test_loss_is_the_true_class_log_probability() -> None:
    assert _score("loss") == pytest.approx([math.log(0.7), math.log(0.25)])


def test_confidence_is_the_log_of_the_largest_probability() -> None:
    assert _score("confidence") == pytest.approx([math.log(0.7), math.log(0.5)])


def test_entropy_score_is_minus_the_entropy() -> None:
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    h1 = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert _score("entropy") == pytest.approx([-h0, -h1])


def test_modified_entropy_by_hand() -> None:
    # Mentr = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i).
    m0 = -(0.3 * math.log(0.7)) - (0.2 * math.log(0.8) + 0.1 * math.log(0.9))
    m1 = -(0.75 * math.log(0.25)) - (0.5 * math.log(0.5) + 0.25 * math.log(0.75))
    assert _score("modified_entropy") == pytest.approx([-m0, -m1])


def test_modified_entropy_tells_confident_right_from_confident_wrong() -> None:
    # Entropy cannot: both rows are equally sharp. Modified entropy ranks the right one up.
    p = np.log(np.array([[0.98, 0.01, 0.01], [0.98, 0.01, 0.01]]))
    labels = np.array([0, 1])
    entropy = ATTACKS["entropy"].score(p, labels)
    modified = ATTACKS["modified_entropy"].score(p, labels)
    assert entropy[0] == pytest.approx(entropy[1])
    assert modified[0] > modified[1]


def test_log_softmax_keeps_a_saturated_margin() -> None:
    logits = np.array([[60.0, 0.0, 1.0], [1.0, 2.0, 3.0]])
    log_p = _log_softmax(logits)
    # Top class: log p = -log1p(e^-60 + e^-59), not the 0.0 that log(sum exp) rounds to.
    assert log_p[0, 0] == pytest.approx(-(math.exp(-60) + math.exp(-59)), rel=1e-9)
    assert log_p[0, 0] < 0
    expected = np.array([1.0, 2.0, 3.0]) - math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert log_p[1] == pytest.approx(expected)


def test_margin_with_and_without_labels() -> None:
    log_p = np.log(P)
    assert margin(log_p, LABELS) == pytest.approx([math.log(0.7 / 0.2), math.log(0.25 / 0.5)])
    assert margin(log_p, None) == pytest.approx([math.log(0.7 / 0.2), math.log(0.5 / 0.25)])


def _qmia_side(log_p: np.ndarray, labels: np.ndarray, pixels: np.ndarray, seed: int) -> Side:
    return Side(log_p, labels, {"x": pixels}, two_folds(len(labels), seed))


def _records(count: int, rng: np.random.Generator, boost: float) -> tuple:
    """Records of two classes whose non-member margin depends on the class (class 1 is
    easy: margins about 6 higher); BOOST adds to every record's margin."""
    labels = rng.integers(0, 2, count)
    pixels = rng.normal(size=(count, 5)) + labels[:, None]
    margins = 2.0 + 6.0 * labels + rng.normal(size=count) + boost
    log_p = np.zeros((count, 2))
    log_p[np.arange(count), 1 - labels] = -margins  # the true class leads by MARGIN
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return log_p, labels, pixels


def test_qmia_flags_about_the_target_share_of_unseen_nonmembers() -> None:
    rng = np.random.default_rng(0)
    members = _qmia_side(*_records(600, rng, 0.0), seed=1)
    nonmembers = _qmia_side(*_records(1600, rng, 0.0), seed=2)
    result = qmia_scores(members, nonmembers, (0.05,), iterations=20, seed=0)
    # No member differs from a non-member: both flagged near 5% (conformal calibration:
    # 80 expected of 1600, sd about 9).
    assert 0.025 < result.nonmember_flags[0.05].mean() < 0.08
    assert 0.02 < result.member_flags[0.05].mean() < 0.09


def test_qmia_judges_each_record_against_its_class() -> None:
    # Members of the hard class gain 2 in margin: still below an easy non-member's, so a
    # global threshold misses them at low FPR, but against their own class they stand out.
    rng = np.random.default_rng(3)
    log_p, labels, pixels = _records(600, rng, 0.0)
    hard = labels == 0
    log_p = log_p.copy()
    boosted = np.where(hard, 2.0, 0.0)
    log_p[np.arange(600), labels] += boosted
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    members = _qmia_side(log_p, labels, pixels, seed=1)
    nonmembers = _qmia_side(*_records(2000, rng, 0.0), seed=2)
    result = qmia_scores(members, nonmembers, (0.01,), iterations=20, seed=0)
    qmia_tpr = result.member_flags[0.01][hard].mean()
    loss_members = log_p[np.arange(600), labels]
    nonmember_log_p, nonmember_labels = nonmembers.log_p, nonmembers.labels
    assert nonmember_labels is not None
    loss_nonmembers = nonmember_log_p[np.arange(2000), nonmember_labels]
    global_tpr = (loss_members[hard] > np.quantile(loss_nonmembers, 0.99)).mean()
    # The global threshold sits among the easy class's margins: no hard member passes it.
    assert global_tpr < 0.01
    assert qmia_tpr > 0.05


def test_separation_marks_a_point_not_estimable_below_ten_over_fpr() -> None:
    rng = np.random.default_rng(0)
    members, nonmembers = rng.normal(1, 1, 50), rng.normal(0, 1, 999)
    flags_m = {0.01: members > 2.3}
    flags_n = {0.01: nonmembers > 2.3}
    judged = Judged(members, nonmembers, flags_m, flags_n)
    point = separation(judged, resamples=100, permutations=100, seed=0).points[0]
    assert min_nonmembers(0.01) == 1000 and point.heldout_nonmembers == 999
    assert not point.estimable and point.tpr is None and point.epsilon_lower is None
    judged = Judged(members, np.r_[nonmembers, 0.0], flags_m, {0.01: np.r_[flags_n[0.01], False]})
    point = separation(judged, resamples=100, permutations=100, seed=0).points[0]
    assert point.estimable
    assert point.tpr == pytest.approx(flags_m[0.01].mean())
    assert point.fpr == pytest.approx(flags_n[0.01].sum() / 1000)


def test_roc_curve_runs_from_origin_to_one_and_counts_ties_once() -> None:
    curve = roc_curve(np.array([3.0, 2.0, 2.0]), np.array([2.0, 1.0]))
    # Thresholds: above 3 (0,0); at 3 (0, 1/3); at 2 (1/2, 1); at 1 (1, 1).
    assert curve.fpr == (0.0, 0.0, 0.5, 1.0)
    assert curve.tpr == pytest.approx((0.0, 1 / 3, 1.0, 1.0))


def test_exposed_records_are_indices_with_their_nonmember_share() -> None:
    members = np.array([0.1, 0.9, 0.5])
    nonmembers = np.array([0.0, 0.2, 0.6, 0.95])
    records = exposed_records(members, nonmembers, np.array([4, 5, 6]), np.array([10, 11, 12]))
    assert [r.index for r in records] == [11, 12, 10]
    assert [r.label for r in records] == [5, 6, 4]
    # 0.9: one non-member (0.95) at least as high; 0.5: two; 0.1: three.
    assert [r.nonmember_share for r in records] == [0.25, 0.5, 0.75]


def test_the_same_seed_gives_the_same_numbers() -> None:
    rng = np.random.default_rng(4)
    members = _qmia_side(*_records(200, rng, 1.0), seed=1)
    nonmembers = _qmia_side(*_records(400, rng, 0.0), seed=2)
    first = qmia_scores(members, nonmembers, (0.01,), iterations=10, seed=3)
    again = qmia_scores(members, nonmembers, (0.01,), iterations=10, seed=3)
    assert np.array_equal(first.members, again.members)
    assert np.array_equal(first.nonmember_flags[0.01], again.nonmember_flags[0.01])
    judged = Judged(first.members, first.nonmembers, first.member_flags, first.nonmember_flags)
    assert separation(judged, 100, 100, seed=5) == separation(judged, 100, 100, seed=5)


@pytest.mark.parametrize("seed", [2**32, 2**64, 10**23])
def test_a_seed_past_the_32_bit_range_runs_and_repeats(seed: int) -> None:
    # --seed takes any non-negative integer; scikit-learn's random_state stops at 2**32 - 1.
    rng = np.random.default_rng(4)
    members = _qmia_side(*_records(200, rng, 1.0), seed=1)
    nonmembers = _qmia_side(*_records(400, rng, 0.0), seed=2)
    first = qmia_scores(members, nonmembers, (0.01,), iterations=10, seed=seed)
    again = qmia_scores(members, nonmembers, (0.01,), iterations=10, seed=seed)
    assert np.isfinite(first.members).all()
    assert np.array_equal(first.members, again.members)
