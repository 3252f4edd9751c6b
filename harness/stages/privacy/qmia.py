"""A calibrated attack without shadow models, after QMIA (Bertran et al. 2023).

The raw score is the logit margin: log p_y - max_{i != y} log p_i with labels (how far the
true class leads), log p_(1) - log p_(2) without (how far the top class leads). Some records
are easy for any model, member or not: a single threshold flags them all. QMIA instead
predicts, from the record itself, the score a non-member like it would get, and judges each
record against its own expected score.

A quantile regression (gradient-boosted, scikit-learn's ``HistGradientBoostingRegressor``)
is fitted on one fold's non-members, from the record's features (its inputs, flattened and
reduced to a few principal components fitted on the same non-members, and its label,
one-hot) to its margin; it is applied only to the other fold's records, both ways round:

    AUC              the score is margin - predicted median (a record judged against itself)
    TPR at FPR a     a record is flagged when its margin exceeds its own predicted (1 - a)
                     quantile: the regression is the threshold, fitted without the record
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MIN_FIT_RECORDS", "QmiaScores", "Side", "margin", "qmia_scores"]

MIN_FIT_RECORDS = 50  # non-members per fold a quantile regression is fitted on, at least
_COMPONENTS = 16  # principal components of the inputs used as features, at most


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
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _cross_fitted(members, nonmembers, fprs, iterations, seed)


def _cross_fitted(
    members: Side, nonmembers: Side, fprs: tuple[float, ...], iterations: int, seed: int
) -> QmiaScores:
    member_margin = margin(members.log_p, members.labels)
    nonmember_margin = margin(nonmembers.log_p, nonmembers.labels)
    classes = members.log_p.shape[1]
    member_scores = np.zeros(len(member_margin))
    nonmember_scores = np.zeros(len(nonmember_margin))
    member_flags = {fpr: np.zeros(len(member_margin), dtype=bool) for fpr in fprs}
    nonmember_flags = {fpr: np.zeros(len(nonmember_margin), dtype=bool) for fpr in fprs}
    for fold in (0, 1):
        fit = nonmembers.folds != fold
        features = _Features(nonmembers.inputs, fit, classes, seed)
        fit_x = features(nonmembers.inputs, nonmembers.labels, fit)
        judged_m, judged_n = members.folds == fold, nonmembers.folds == fold
        x_m = features(members.inputs, members.labels, judged_m)
        x_n = features(nonmembers.inputs, nonmembers.labels, judged_n)
        for level, fpr in [(0.5, None), *((1 - f, f) for f in fprs)]:
            model = _regression(level, iterations, seed).fit(fit_x, nonmember_margin[fit])
            expected_m, expected_n = model.predict(x_m), model.predict(x_n)
            if fpr is None:
                member_scores[judged_m] = member_margin[judged_m] - expected_m
                nonmember_scores[judged_n] = nonmember_margin[judged_n] - expected_n
            else:
                member_flags[fpr][judged_m] = member_margin[judged_m] > expected_m
                nonmember_flags[fpr][judged_n] = nonmember_margin[judged_n] > expected_n
    return QmiaScores(member_scores, nonmember_scores, member_flags, nonmember_flags)


class _Features:
    """Flattened inputs projected on principal components fitted on the fit fold's
    non-members, plus the one-hot label."""

    def __init__(self, inputs: dict[str, np.ndarray], fit: np.ndarray, classes: int, seed: int):
        from sklearn.decomposition import PCA

        flat = _flatten(inputs, fit)
        components = max(1, min(_COMPONENTS, flat.shape[0] - 1, flat.shape[1]))
        self._pca = PCA(n_components=components, random_state=seed).fit(flat)
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
        random_state=seed,
    )
