"""Pure statistics the explanation metrics are built from, each a few lines of numpy.

Every function takes flat sequences of finite numbers and returns a float. A value that
is undefined for its input (a correlation of a constant vector, an AUROC with one class
only, the Gini index or entropy of all zeros) is ``nan``, never a guess; the metrics
carry it through as an undefined sample.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "auroc",
    "entropy",
    "gini",
    "pearson",
    "rankdata",
    "spearman",
    "top_k_overlap",
    "trapezoid",
]


def rankdata(values: ArrayLike) -> np.ndarray:
    """Ranks 1..n of ``values`` in ascending order; tied values share their average rank
    ([10, 20, 20, 30] -> [1, 2.5, 2.5, 4])."""
    a = _finite(values)
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    starts_group = np.r_[True, sorted_a[1:] != sorted_a[:-1]]
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], a.size]  # one past each tie group's last position
    mean_rank = (starts + 1 + ends) / 2.0  # mean of the ranks starts+1 .. ends
    ranks = np.empty(a.size)
    ranks[order] = mean_rank[np.cumsum(starts_group) - 1]
    return ranks


def pearson(a: ArrayLike, b: ArrayLike) -> float:
    """Pearson correlation; ``nan`` when either side is constant or has fewer than 2 values."""
    x, y = _pair(a, b)
    if x.size < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denominator == 0.0:
        return math.nan
    return float(np.clip(float(dx @ dy) / denominator, -1.0, 1.0))


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation: Pearson of the average ranks (ties handled)."""
    x, y = _pair(a, b)
    return pearson(rankdata(x), rankdata(y))


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` for boolean ``labels``: the probability that a
    random positive scores above a random negative, ties counting one half (Mann-Whitney U
    over average ranks). ``nan`` when either class is empty."""
    s = _finite(scores)
    y = np.asarray(labels, dtype=bool).ravel()
    if y.size != s.size:
        raise ValueError(f"scores and labels differ in length: {s.size} != {y.size}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    rank_sum = float(rankdata(s)[y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def gini(values: ArrayLike) -> float:
    """Gini index of non-negative values (Hurley & Rickard 2009, as Chalasani et al. 2020
    use it for sparseness): with a_(1) <= ... <= a_(N) sorted ascending,
    1 - 2 * sum_k (a_(k) / ||a||_1) * (N - k + 1/2) / N. 0 for a constant vector, 1 - 1/N
    for a single non-zero value; ``nan`` for all zeros."""
    a = np.sort(_nonnegative(values))
    total = float(a.sum())
    if total == 0.0:
        return math.nan
    n = a.size
    k = np.arange(1, n + 1)
    return float(1.0 - 2.0 * float(np.sum((a / total) * (n - k + 0.5) / n)))


def entropy(values: ArrayLike) -> float:
    """Shannon entropy in nats of non-negative values normalised to sum 1:
    -sum p log p (0 log 0 = 0). log N for a uniform vector; ``nan`` for all zeros."""
    a = _nonnegative(values)
    total = float(a.sum())
    if total == 0.0:
        return math.nan
    p = a[a > 0] / total
    return float(-np.sum(p * np.log(p)))


def top_k_overlap(a: ArrayLike, b: ArrayLike, k: int) -> float:
    """Fraction of the ``k`` largest entries of ``a`` that are also among the ``k`` largest
    of ``b`` (ties broken by position, lower index first)."""
    x, y = _pair(a, b)
    if not 1 <= k <= x.size:
        raise ValueError(f"k must be in [1, {x.size}], got {k}")
    top_x = np.argsort(-x, kind="stable")[:k]
    top_y = np.argsort(-y, kind="stable")[:k]
    return np.intersect1d(top_x, top_y).size / k


def trapezoid(y: ArrayLike, x: ArrayLike) -> float:
    """Area under the piecewise-linear curve through (x, y), x ascending (trapezoidal rule)."""
    yy, xx = _pair(y, x)
    if np.any(np.diff(xx) < 0):
        raise ValueError("x must be ascending")
    return float(np.sum(np.diff(xx) * (yy[1:] + yy[:-1]) / 2.0))


def _finite(values: ArrayLike) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("values must be finite; got NaN or infinity")
    return a


def _nonnegative(values: ArrayLike) -> np.ndarray:
    a = _finite(values)
    if a.size == 0 or np.any(a < 0):
        raise ValueError("values must be non-empty and non-negative (pass absolute values)")
    return a


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = _finite(a), _finite(b)
    if x.size != y.size:
        raise ValueError(f"the two sequences differ in length: {x.size} != {y.size}")
    return x, y
