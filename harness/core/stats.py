"""The statistics more than one package uses: the gate's two-sample tests and the
bootstrap draws that both the gate and the profiler build their intervals from.

Pure functions of sample arrays: no result types, no I/O. A timing difference is judged
on the raw per-call samples: Mann-Whitney U for the median (a shift of the whole
distribution), a permutation test for a tail percentile (where the median may not move),
and Holm's step-down correction when several checks are decided together.

Rules that only one stage applies stay with that stage and are built on these: the
profiler's per-percentile sample minimums, warm-up and stopping rules are in
``harness.stages.efficiency.stats``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MIN_SAMPLES",
    "Alternative",
    "SampleTest",
    "block_ratio_ci",
    "block_statistics",
    "bootstrap_percentiles",
    "bootstrap_replicates",
    "holm",
    "mann_whitney",
    "quantile_permutation_test",
    "ratio_ci",
]

# Fewer samples than this on either side and a timing check is "inconclusive": with 20 and
# 20 the smallest one-sided Mann-Whitney p is ~1e-11, so the limit is the data's noise, not
# the test's resolution, but fewer calls than this cannot show a tail or a settled median.
MIN_SAMPLES = 20

PERMUTATIONS = 2000  # a permutation p-value is never below 1 / (PERMUTATIONS + 1)

Alternative = str  # "greater": current > base; "less": current < base; "two-sided"


@dataclass(frozen=True)
class SampleTest:
    """One two-sample test of CURRENT against BASE."""

    test: str  # "Mann-Whitney U" or "permutation on p99", ...
    statistic: float  # U for Mann-Whitney; the quantile difference for a permutation
    p_value: float


def mann_whitney(base: ArrayLike, current: ArrayLike, alternative: Alternative) -> SampleTest:
    """Mann-Whitney U test that CURRENT is shifted from BASE: exact up to 50 samples a
    side without ties (10 blocks against 10), else asymptotic and tie-corrected."""
    from scipy.stats import mannwhitneyu  # imported here: scipy is slow to import

    a, b = _as_samples(current), _as_samples(base)
    pooled = np.concatenate([a, b])
    small = max(a.size, b.size) <= 50 and np.unique(pooled).size == pooled.size
    method = "exact" if small else "asymptotic"
    outcome = mannwhitneyu(a, b, alternative=alternative, method=method)
    return SampleTest("Mann-Whitney U", float(outcome.statistic), float(outcome.pvalue))


def quantile_permutation_test(
    base: ArrayLike,
    current: ArrayLike,
    q: float,
    alternative: Alternative,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> SampleTest:
    """Permutation test on the difference of the Q-quantile (0 < q < 1) of two samples.

    The pooled samples are relabelled at random ``permutations`` times; the p-value counts
    relabellings whose quantile difference is at least as extreme as the observed one,
    with the +1 correction so it is never 0.
    """
    a, b = _as_samples(current), _as_samples(base)
    observed = float(np.quantile(a, q) - np.quantile(b, q))
    pooled = np.concatenate([a, b])
    rng = np.random.default_rng(seed)
    differences = np.empty(permutations)
    # Chunks keep memory bounded for long sample runs (a row per permutation).
    chunk = max(1, 4_000_000 // pooled.size)
    for start in range(0, permutations, chunk):
        rows = min(chunk, permutations - start)
        keys = rng.random((rows, pooled.size))
        shuffled = np.take_along_axis(np.broadcast_to(pooled, keys.shape), keys.argsort(1), 1)
        differences[start : start + rows] = np.quantile(
            shuffled[:, : a.size], q, axis=1
        ) - np.quantile(shuffled[:, a.size :], q, axis=1)
    if alternative == "greater":
        extreme = np.count_nonzero(differences >= observed)
    elif alternative == "less":
        extreme = np.count_nonzero(differences <= observed)
    else:
        extreme = np.count_nonzero(np.abs(differences) >= abs(observed))
    p_value = (extreme + 1) / (permutations + 1)
    return SampleTest(f"permutation on p{round(q * 100)}", observed, float(p_value))


def ratio_ci(
    base: ArrayLike,
    current: ArrayLike,
    q: float | None = 0.5,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap 95% interval of quantile(CURRENT) / quantile(BASE); of the means when Q is
    None."""
    a, b = _as_samples(current), _as_samples(base)
    rng = np.random.default_rng(seed)
    if q is None:
        top = bootstrap_replicates(a, np.mean, resamples, rng)
        bottom = bootstrap_replicates(b, np.mean, resamples, rng)
    else:
        top = bootstrap_percentiles(np.sort(a), q * 100, resamples, rng)
        bottom = bootstrap_percentiles(np.sort(b), q * 100, resamples, rng)
    ratios = top / bottom
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


def block_statistics(samples: ArrayLike, blocks: int, q: float | None) -> np.ndarray:
    """The Q-quantile (the mean when Q is None) of each of BLOCKS consecutive, near-equal
    blocks of SAMPLES, in time order.

    Calls of one run are not independent draws: the machine drifts while it runs (another
    job starts, clocks change), so neighbouring calls share a state. Block statistics are
    the run's own replicates at the timescale of that drift.
    """
    parts = np.array_split(_as_samples(samples), blocks)
    return np.array([float(np.mean(p) if q is None else np.quantile(p, q)) for p in parts])


def block_ratio_ci(
    base_blocks: ArrayLike, current_blocks: ArrayLike, *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap 95% interval of median(CURRENT blocks) / median(BASE blocks), resampling
    whole blocks."""
    a, b = _as_samples(current_blocks), _as_samples(base_blocks)
    rng = np.random.default_rng(seed)
    top = bootstrap_replicates(a, np.median, resamples, rng)
    bottom = bootstrap_replicates(b, np.median, resamples, rng)
    low, high = np.quantile(top / bottom, [0.025, 0.975])
    return float(low), float(high)


def bootstrap_replicates(
    data: np.ndarray,
    statistic: Callable[..., Any],
    resamples: int,
    rng: np.random.Generator,
    *,
    max_values: int = 5_000_000,
) -> np.ndarray:
    """``resamples`` bootstrap replicates of ``statistic(resample_matrix, axis=1)``, the
    resamples drawn in chunks of at most ``max_values`` values so memory stays bounded."""
    rows = max(1, max_values // data.size)
    values = []
    for start in range(0, resamples, rows):
        index = rng.integers(0, data.size, size=(min(rows, resamples - start), data.size))
        values.append(np.asarray(statistic(data[index], axis=1), dtype=np.float64))
    return np.concatenate(values)


def bootstrap_percentiles(
    sorted_data: np.ndarray, q_percent: float, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """``resamples`` bootstrap replicates of the ``q_percent`` percentile, each in O(1).

    A resample is n uniform indices into the sorted data, and its k-th smallest value is
    ``sorted_data[floor(n * U_(k))]``, where U_(k), the k-th smallest of n uniforms, is
    Beta(k, n - k + 1). The percentile interpolates between 0-based ranks j and j + 1, so
    only U_(j+1) and U_(j+2) are drawn: the second as U_(j+1) + (1 - U_(j+1)) * B with
    B ~ Beta(1, n - j - 1), the least of the n - j - 1 uniforms above U_(j+1). The
    replicates have exactly the distribution that resampling whole arrays gives.
    """
    n = sorted_data.size
    position = (n - 1) * q_percent / 100.0
    j = math.floor(position)
    fraction = position - j
    lower = rng.beta(j + 1, n - j, size=resamples)
    values = sorted_data[np.minimum((n * lower).astype(np.int64), n - 1)]
    if fraction == 0 or j + 1 >= n:
        return values
    upper = lower + (1.0 - lower) * rng.beta(1, n - j - 1, size=resamples)
    above = sorted_data[np.minimum((n * upper).astype(np.int64), n - 1)]
    return values + fraction * (above - values)


def holm(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return tuple(adjusted)


def _as_samples(samples: ArrayLike) -> np.ndarray:
    array = np.asarray(samples, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError("a sample set is empty")
    return array
