"""A calibrated attack without shadow models, after QMIA (Bertran et al. 2023).

The raw score is the logit margin: log p_y - max_{i != y} log p_i with labels (how far the
true class leads), log p_(1) - log p_(2) without (how far the top class leads). Some records
are easy for any model, member or not: a single threshold flags them all. QMIA instead
predicts, from the record itself, the score a non-member like it would get, and judges each
record against its own expected score.

Quantile regressions (gradient-boosted, scikit-learn's ``HistGradientBoostingRegressor``)
of the median and the 0.84 quantile are fitted on one fold's non-members, from the record's
features (its inputs, flattened and reduced to a few principal components fitted on the
same non-members, and its label, one-hot) to its margin; it is applied only to the other
fold's records, both ways round:

    score            (margin - predicted median) / predicted spread: each record against
                     the margins non-members like it get
    TPR at FPR a     a record is flagged when its score exceeds the (1 - a) quantile of the
                     scores the fit fold's own non-members get out of sample (an inner 2-fold
                     split of the fit fold: conformalised quantile regression, Romano et al.
                     2019). Everything that sets the threshold comes from the fit fold, and a
                     regression fitted directly at the 0.99 or 0.999 quantile of a few hundred
                     records is badly calibrated (it reached 5% held-out FPR at a 1% target on
                     the digits), which the conformal step corrects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.membership_stats import threshold_at_fpr, two_folds

__all__ = ["MIN_FIT_RECORDS", "QmiaScores", "Side", "margin", "qmia_scores"]

# Non-members per fold, at least: each regression is fitted on half of a fold's records.
MIN_FIT_RECORDS = 50
_COMPONENTS = 16  # principal components of the inputs used as features, at most
_UPPER = 0.84  # the quantile whose distance from the median is the spread
# A predicted spread below this share of the margins' standard deviation is raised to it:
# a regression may predict no spread at all for a few records, and a score must not divide
# by (nearly) zero.
_SPREAD_FLOOR = 0.05


@dataclass(frozen=True, eq=False)
class QmiaScores:
    members: np.ndarray  # margin - predicted non-member median, each from the other fold
    nonmembers: np.ndarray
    member_flags: dict[float, np.ndarray]  # target FPR -> flagged members
    nonmember_flags: dict[float, np.ndarray]


@dataclass(frozen=True, eq=False)
class Side:
    """One side's records as QMIA reads them."""

    log_p: np.ndarray
    labels: np.ndarray | None
    inputs: dict[str, np.ndarray]
    folds: np.ndarray


def margin(log_p: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """How far the true class (the top class, without labels) leads the best other one."""
    if labels is None:
        top_two = np.sort(log_p, axis=1)[:, -2:]
        return top_two[:, 1] - top_two[:, 0]
    rows = np.arange(len(labels))
    true = log_p[rows, labels]
    others = log_p.copy()
    others[rows, labels] = -np.inf
    return true - others.max(axis=1)


def qmia_scores(
    members: Side, nonmembers: Side, fprs: tuple[float, ...], iterations: int, seed: int
) -> QmiaScores:
    # One OpenMP thread for the boosting: on a busy machine its default (a thread per core)
    # oversubscribes and runs 30x slower, and one thread sums in one order.
    # scikit-learn's OpenMP runtime is loaded by these imports: threadpool_limits limits
    # only the runtimes loaded when it is entered, so they come first.
    import sklearn.decomposition
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _cross_fitted(members, nonmembers, fprs, iterations, seed)


def _cross_fitted(
    members: Side, nonmembers: Side, fprs: tuple[float, ...], iterations: int, seed: int
) -> QmiaScores:
    member_margin = margin(members.log_p, members.labels)
    nonmember_margin = margin(nonmembers.log_p, nonmembers.labels)
    classes = members.log_p.shape[1]
    fit_kit = _Fitter(nonmembers, nonmember_margin, classes, iterations, seed)
    member_scores = np.zeros(len(member_margin))
    nonmember_scores = np.zeros(len(nonmember_margin))
    member_flags = {fpr: np.zeros(len(member_margin), dtype=bool) for fpr in fprs}
    nonmember_flags = {fpr: np.zeros(len(nonmember_margin), dtype=bool) for fpr in fprs}
    for fold in (0, 1):
        fit = nonmembers.folds != fold
        judged_m, judged_n = members.folds == fold, nonmembers.folds == fold
        # One projection per fold, fitted on the fold's non-member inputs (never a margin):
        # the inner regressions below share it, as none of it depends on membership.
        features = _Features(nonmembers.inputs, fit, classes, seed)
        expected = fit_kit.median(fit, features)
        member_scores[judged_m] = expected(members, member_margin, judged_m)
        nonmember_scores[judged_n] = expected(nonmembers, nonmember_margin, judged_n)
        calibration = fit_kit.out_of_sample_scores(fit, features)
        for fpr in fprs:
            threshold = threshold_at_fpr(calibration, fpr)
            member_flags[fpr][judged_m] = member_scores[judged_m] > threshold
            nonmember_flags[fpr][judged_n] = nonmember_scores[judged_n] > threshold
    return QmiaScores(member_scores, nonmember_scores, member_flags, nonmember_flags)


class _Fitter:
    """Median regressions of the non-members' margins on chosen rows of them."""

    def __init__(
        self, nonmembers: Side, margins: np.ndarray, classes: int, iterations: int, seed: int
    ):
        self._nonmembers, self._margins = nonmembers, margins
        self._classes, self._iterations, self._seed = classes, iterations, seed

    def median(self, rows: np.ndarray, features: _Features):  # type: ignore[no-untyped-def]
        """A function (side, margins, judged rows) -> each judged record's margin against
        what a non-member like it would get: (margin - predicted median) / predicted spread
        (the 0.84 quantile minus the median: one standard deviation were the margins
        normal), from regressions fitted on the non-members in ROWS only. Dividing by the
        spread puts records whose non-member margins vary widely (an easy class's) on the
        same scale as the rest, so one threshold fits all."""
        x = features(self._nonmembers.inputs, self._nonmembers.labels, rows)
        target = self._margins[rows]
        centre = _regression(0.5, self._iterations, self._seed).fit(x, target)
        upper = _regression(_UPPER, self._iterations, self._seed).fit(x, target)
        floor = _SPREAD_FLOOR * max(float(np.std(target)), 1e-12)

        def expected(side: Side, margins: np.ndarray, judged: np.ndarray) -> np.ndarray:
            judged_x = features(side.inputs, side.labels, judged)
            median = centre.predict(judged_x)
            spread = np.maximum(upper.predict(judged_x) - median, floor)
            return (margins[judged] - median) / spread

        return expected

    def out_of_sample_scores(self, rows: np.ndarray, features: _Features) -> np.ndarray:
        """The scores of the non-members in ROWS, each from a regression fitted on the other
        half of ROWS (a seeded inner split): what a non-member's score looks like when the
        regression has not seen it."""
        positions = np.flatnonzero(rows)
        inner = two_folds(positions.size, self._seed + 7)
        scores = []
        for half in (0, 1):
            fit = np.zeros_like(rows)
            fit[positions[inner != half]] = True
            judged = np.zeros_like(rows)
            judged[positions[inner == half]] = True
            expected = self.median(fit, features)
            scores.append(expected(self._nonmembers, self._margins, judged))
        return np.concatenate(scores)


class _Features:
    """Flattened inputs projected on principal components fitted on the fit fold's
    non-members, plus the one-hot label."""

    def __init__(self, inputs: dict[str, np.ndarray], fit: np.ndarray, classes: int, seed: int):
        from sklearn.decomposition import PCA

        flat = _flatten(inputs, fit)
        components = max(1, min(_COMPONENTS, flat.shape[0] - 1, flat.shape[1]))
        # Randomised SVD: a few components of thousands of pixels in a fraction of the full
        # SVD's time, and seeded.
        self._pca = PCA(
            n_components=components, svd_solver="randomized", random_state=_sklearn_seed(seed)
        )
        self._pca.fit(flat)
        self._classes = classes

    def __call__(
        self, inputs: dict[str, np.ndarray], labels: np.ndarray | None, rows: np.ndarray
    ) -> np.ndarray:
        projected = self._pca.transform(_flatten(inputs, rows))
        if labels is None:
            return projected
        one_hot = np.eye(self._classes)[labels[rows]]
        return np.concatenate([projected, one_hot], axis=1)


def _flatten(inputs: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    parts = [array[rows].reshape(int(rows.sum()), -1) for _, array in sorted(inputs.items())]
    return np.concatenate(parts, axis=1).astype(np.float64)


def _regression(quantile: float, iterations: int, seed: int):  # type: ignore[no-untyped-def]
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        loss="quantile",
        quantile=quantile,
        max_iter=iterations,
        early_stopping=False,
        random_state=_sklearn_seed(seed),
    )


def _sklearn_seed(seed: int) -> int:
    """SEED (any non-negative integer: ``--seed`` is unbounded) mapped into the 32-bit range
    scikit-learn's ``random_state`` accepts, through numpy's SeedSequence, so that seeds
    past 2**32 stay distinct instead of failing the stage."""
    return int(np.random.SeedSequence(seed).generate_state(1)[0])
