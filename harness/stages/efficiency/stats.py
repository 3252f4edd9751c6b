"""Pure math over raw latency samples: percentiles, bootstrap intervals, sampling rules.

Every function takes the raw samples (one per timed call, in milliseconds where it
matters) and returns plain numbers or the result dataclasses of ``harness.core.efficiency``.
Nothing here times anything; the runner does, and hands the samples over.

How many samples a percentile needs before it is reported (``MIN_SAMPLES``): p90 and p99
follow MLPerf LoadGen's figures (64 and 662), which the efficiency issue adopts as its
rule. Both leave about 6.5 samples expected beyond the percentile (64 x 0.10 = 6.4,
662 x 0.01 = 6.62), enough for the tail to be bounded at all. p95 is interpolated at the
same expected tail count (130 x 0.05 = 6.5). p50 needs only a handful, so that its
bootstrap interval means something. Below its minimum a percentile is ``insufficient``:
no value, no interval.

Intervals are percentile-bootstrap 95% intervals, deterministic for a given seed. The
bootstrap draws underneath are ``harness.core.stats``'s, shared with the gate; what is
here is the profiler's own rules.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from harness.core.efficiency import Estimate, LatencyStats
from harness.core.stats import bootstrap_percentiles, bootstrap_replicates

__all__ = [
    "CONFIDENCE",
    "MIN_SAMPLES",
    "PERCENTILES",
    "RESAMPLES",
    "Statistic",
    "bootstrap_ci",
    "estimate_percentile",
    "latency_stats",
    "median_ci_relative_width",
    "median_settled",
    "percentile",
    "throughput_estimate",
]

PERCENTILES = ("p50", "p90", "p95", "p99")
MIN_SAMPLES: dict[str, int] = {"p50": 8, "p90": 64, "p95": 130, "p99": 662}
CONFIDENCE = 0.95
RESAMPLES = 2000
# Resampled values held at once by ``bootstrap_ci``: 5e6 float64 is 40 MB.
_MAX_RESAMPLED_VALUES = 5_000_000


class Statistic(Protocol):
    """A statistic computed along an axis, as ``np.median`` and ``np.mean`` are."""

    def __call__(self, a: np.ndarray, /, *, axis: int) -> Any: ...


def percentile(samples: ArrayLike, q_percent: float) -> float:
    """The ``q_percent`` percentile, linearly interpolated (numpy's default): the value at
    position (n - 1) * q / 100 of the sorted samples."""
    return float(np.percentile(_nonempty(samples), q_percent))


def bootstrap_ci(
    samples: ArrayLike,
    statistic: Statistic,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic``: draw ``resamples`` resamples of the
    samples with replacement, compute the statistic of each (``statistic(matrix, axis=1)``),
    and take the central ``confidence`` of those values. Resamples are drawn in chunks of
    at most ~5e6 values, so memory stays bounded for long runs."""
    data = _nonempty(samples)
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError(
            f"need resamples >= 1 and 0 < confidence < 1, got {resamples}, {confidence}"
        )
    rng = np.random.default_rng(seed)
    values = bootstrap_replicates(data, statistic, resamples, rng, max_values=_MAX_RESAMPLED_VALUES)
    return _central_interval(values, confidence)


def estimate_percentile(
    samples: ArrayLike, name: str, *, resamples: int = RESAMPLES, seed: int = 0
) -> Estimate:
    """The named percentile ("p50", "p90", "p95", "p99") with its bootstrap 95% interval,
    or ``insufficient`` when there are fewer than ``MIN_SAMPLES[name]`` samples."""
    if name not in MIN_SAMPLES:
        raise ValueError(f"unknown percentile {name!r}; expected one of {', '.join(PERCENTILES)}")
    data = _as_array(samples)
    need = MIN_SAMPLES[name]
    if data.size < need:
        return Estimate(None, None, None, insufficient=True, min_samples=need)
    q = float(name[1:])
    # Order-statistic draws: the same distribution as resampling whole arrays, in O(1)
    # per replicate, so 200,000 samples cost what 200 do.
    draws = bootstrap_percentiles(np.sort(data), q, resamples, np.random.default_rng(seed))
    low, high = _central_interval(draws, CONFIDENCE)
    return Estimate(percentile(data, q), low, high, insufficient=False, min_samples=need)


def median_ci_relative_width(
    samples: ArrayLike, *, resamples: int = 400, confidence: float = CONFIDENCE, seed: int = 0
) -> float:
    """Width of the median's bootstrap interval over the median: the sampling loop's
    stopping rule. ``inf`` below ``MIN_SAMPLES["p50"]`` samples (nothing to bound yet).

    Fast enough to call after every batch of calls (well under a millisecond for 5000
    samples): each bootstrap median is drawn directly (see
    ``harness.core.stats.bootstrap_percentiles``) instead of by resampling whole arrays.
    """
    data = np.sort(_as_array(samples))
    if data.size < MIN_SAMPLES["p50"]:
        return math.inf
    draws = bootstrap_percentiles(data, 50.0, resamples, np.random.default_rng(seed))
    low, high = _central_interval(draws, confidence)
    median = float(np.median(data))
    if median == 0:
        return 0.0 if high == low else math.inf
    return (high - low) / abs(median)


def median_settled(samples: ArrayLike, *, window: int = 10, tolerance: float = 0.05) -> bool:
    """Warm-up rule: the median of the last ``window`` calls is within ``tolerance``
    (relative) of the median of the ``window`` calls before them. False with fewer than
    ``2 * window`` samples."""
    data = _as_array(samples)
    if data.size < 2 * window:
        return False
    recent = float(np.median(data[-window:]))
    before = float(np.median(data[-2 * window : -window]))
    return abs(recent - before) <= tolerance * abs(before)


def latency_stats(
    samples_ms: ArrayLike,
    *,
    batch_size: int,
    warmup_calls: int,
    warmup_settled: bool,
    sampling_seconds: float,
    stopped_because: str,
    target_ci_rel_width: float,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> LatencyStats:
    """Summary statistics of the timed calls, every percentile with its interval (or
    insufficient), and the raw samples in order. ``std_ms`` is the sample standard
    deviation (ddof 1; 0 for a single sample); ``cv`` is std / mean."""
    data = _nonempty(samples_ms)
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if data.size > 1 else 0.0
    return LatencyStats(
        batch_size=batch_size,
        n=int(data.size),
        min_ms=float(data.min()),
        mean_ms=mean,
        std_ms=std,
        cv=std / mean if mean else 0.0,
        max_ms=float(data.max()),
        percentiles_ms={
            name: estimate_percentile(data, name, resamples=resamples, seed=seed)
            for name in PERCENTILES
        },
        warmup_calls=warmup_calls,
        warmup_settled=warmup_settled,
        sampling_seconds=sampling_seconds,
        stopped_because=stopped_because,
        target_ci_rel_width=target_ci_rel_width,
        samples_ms=tuple(float(x) for x in data.tolist()),
    )


def throughput_estimate(
    samples_ms: ArrayLike, batch_size: int, *, resamples: int = RESAMPLES, seed: int = 0
) -> Estimate:
    """Samples per second at the median batch latency: batch_size / (median in seconds).

    The interval is the median's, mapped through the same function; it is decreasing, so
    the median's upper bound gives the lower throughput bound. Insufficient below
    ``MIN_SAMPLES["p50"]`` samples.
    """
    data = _as_array(samples_ms)
    need = MIN_SAMPLES["p50"]
    if data.size < need:
        return Estimate(None, None, None, insufficient=True, min_samples=need)
    if float(data.min()) <= 0:
        raise ValueError(f"latency samples must be positive, got a minimum of {data.min()} ms")

    def per_second(latency_ms: float) -> float:
        return batch_size * 1000.0 / latency_ms

    low_ms, high_ms = bootstrap_ci(data, _percentile_of(50.0), resamples=resamples, seed=seed)
    return Estimate(
        per_second(percentile(data, 50.0)),
        per_second(high_ms),
        per_second(low_ms),
        insufficient=False,
        min_samples=need,
    )


# --------------------------------------------------------------------------- helpers


def _as_array(samples: ArrayLike) -> np.ndarray:
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"samples must be one-dimensional, got shape {data.shape}")
    return data


def _nonempty(samples: ArrayLike) -> np.ndarray:
    data = _as_array(samples)
    if data.size == 0:
        raise ValueError("no samples: a statistic needs at least one")
    return data


def _percentile_of(q_percent: float) -> Statistic:
    def statistic(a: np.ndarray, /, *, axis: int) -> Any:
        return np.percentile(a, q_percent, axis=axis)

    return statistic


def _central_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)
