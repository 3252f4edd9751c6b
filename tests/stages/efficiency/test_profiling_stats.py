"""harness.stages.efficiency.stats against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core.efficiency import Estimate, LatencyStats
from harness.stages.efficiency import stats
from harness.stages.efficiency.stats import (
    MIN_SAMPLES,
    PERCENTILES,
    bootstrap_ci,
    estimate_percentile,
    latency_stats,
    median_ci_relative_width,
    median_settled,
    percentile,
    throughput_estimate,
)

ONE_TO_TEN = [float(v) for v in range(1, 11)]


def _normal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 1.0, n)


def _latency(samples: list[float] | np.ndarray, **overrides: object) -> LatencyStats:
    settings: dict[str, object] = {
        "batch_size": 1,
        "warmup_calls": 20,
        "warmup_settled": True,
        "sampling_seconds": 1.5,
        "stopped_because": "ci within target",
        "target_ci_rel_width": 0.02,
    }
    settings.update(overrides)
    return latency_stats(samples, **settings)  # type: ignore[arg-type]


# --- percentiles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # Position (n - 1) * q / 100 in the sorted samples, n = 10, values 1..10:
        (50, 5.5),  # 4.5: halfway between x[4] = 5 and x[5] = 6
        (90, 9.1),  # 8.1: x[8] = 9 plus 0.1 of (10 - 9)
        (95, 9.55),  # 8.55: 9 + 0.55
        (99, 9.91),  # 8.91: 9 + 0.91
        (25, 3.25),  # 2.25: x[2] = 3 plus 0.25
        (0, 1.0),
        (100, 10.0),
    ],
)
def test_percentile_interpolates_linearly(q: float, expected: float) -> None:
    assert percentile(ONE_TO_TEN, q) == pytest.approx(expected)


def test_percentile_ignores_sample_order() -> None:
    assert percentile(ONE_TO_TEN[::-1], 90) == pytest.approx(9.1)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_min_samples_follow_the_tail_count_rule() -> None:
    assert PERCENTILES == ("p50", "p90", "p95", "p99")
    assert MIN_SAMPLES == {"p50": 8, "p90": 64, "p95": 130, "p99": 662}
    # MLPerf's p90 and p99 leave ~6.5 samples beyond the percentile; p95 matches them.
    for name in ("p90", "p95", "p99"):
        tail = MIN_SAMPLES[name] * (1 - int(name[1:]) / 100)
        assert 6.3 < tail < 6.7


@pytest.mark.parametrize(("name", "enough"), [("p50", 8), ("p90", 64), ("p95", 130), ("p99", 662)])
def test_a_percentile_is_insufficient_one_sample_short(name: str, enough: int) -> None:
    samples = _normal(enough)
    short = estimate_percentile(samples[:-1], name, resamples=200)
    assert short == Estimate(None, None, None, insufficient=True, min_samples=enough)
    full = estimate_percentile(samples, name, resamples=200)
    assert not full.insufficient and full.min_samples == enough
    assert full.value == pytest.approx(percentile(samples, int(name[1:])))
    assert full.ci_low is not None and full.ci_high is not None
    assert full.ci_low <= full.value <= full.ci_high


def test_estimate_percentile_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown percentile 'p75'; expected one of p50"):
        estimate_percentile(ONE_TO_TEN, "p75")


# --- bootstrap ------------------------------------------------------------------------


def test_bootstrap_ci_contains_the_true_median() -> None:
    low, high = bootstrap_ci(_normal(5000, seed=1), np.median)
    assert low < 10.0 < high  # the population median
    # A 95% interval: over 100 independent samples it covers the median ~95 times.
    covered = 0
    for seed in range(100):
        low, high = bootstrap_ci(_normal(101, seed), np.median, resamples=1000, seed=seed)
        covered += low < 10.0 < high
    assert 88 <= covered <= 99


def test_bootstrap_ci_narrows_as_n_grows() -> None:
    widths = []
    for n in (100, 1000, 10_000):
        low, high = bootstrap_ci(_normal(n), np.median, resamples=1000)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # The width shrinks like 1 / sqrt(n): a factor of ~sqrt(10) per step.
    assert 2.0 < widths[0] / widths[1] < 5.0


def test_bootstrap_ci_is_deterministic_for_a_seed() -> None:
    samples = _normal(300)
    assert bootstrap_ci(samples, np.median, seed=3) == bootstrap_ci(samples, np.median, seed=3)
    assert bootstrap_ci(samples, np.median, seed=3) != bootstrap_ci(samples, np.median, seed=4)


def test_bootstrap_ci_of_a_constant_sample_is_a_point() -> None:
    assert bootstrap_ci([2.5] * 50, np.median) == (2.5, 2.5)
    assert estimate_percentile([2.5] * 700, "p99") == Estimate(2.5, 2.5, 2.5, False, 662)


def test_bootstrap_ci_in_chunks_matches_one_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = _normal(300)
    whole = bootstrap_ci(samples, np.mean, resamples=500)
    monkeypatch.setattr(stats, "_MAX_RESAMPLED_VALUES", 1000)  # 3 resamples per chunk
    assert bootstrap_ci(samples, np.mean, resamples=500) == whole


def test_bootstrap_ci_of_the_mean_matches_the_normal_interval() -> None:
    samples = _normal(2000)
    low, high = bootstrap_ci(samples, np.mean, resamples=4000)
    half_width = 1.96 * samples.std(ddof=1) / math.sqrt(samples.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)


def test_bootstrap_ci_rejects_a_bad_confidence() -> None:
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(ONE_TO_TEN, np.median, confidence=1.5)


# --- stopping and warm-up rules -------------------------------------------------------


def test_median_ci_relative_width_agrees_with_the_full_bootstrap() -> None:
    for n in (11, 100, 501):
        samples = _normal(n)
        low, high = bootstrap_ci(samples, np.median, resamples=20_000)
        expected = (high - low) / float(np.median(samples))
        assert median_ci_relative_width(samples, resamples=20_000) == pytest.approx(
            expected, rel=0.15
        )


def test_median_ci_relative_width_shrinks_with_n_and_is_inf_when_too_few() -> None:
    assert median_ci_relative_width(ONE_TO_TEN[:7]) == math.inf
    widths = [median_ci_relative_width(_normal(n)) for n in (50, 500, 5000)]
    assert widths[0] > widths[1] > widths[2] > 0
    assert median_ci_relative_width([4.0] * 100) == 0.0


def test_median_ci_relative_width_is_deterministic_for_a_seed() -> None:
    samples = _normal(400)
    assert median_ci_relative_width(samples, seed=1) == median_ci_relative_width(samples, seed=1)


def test_median_settled_on_a_decaying_then_flat_series() -> None:
    # 10 calls decaying from 20 ms towards 1 ms, then 30 calls at 1.00-1.02 ms.
    decay = [1.0 + 19.0 * 0.5**i for i in range(10)]
    flat = [1.0 + 0.01 * (i % 3) for i in range(30)]
    series = decay + flat
    assert not median_settled(series[:19])  # fewer than two windows
    assert not median_settled(series[:20])  # last 10 flat, the 10 before decaying
    assert median_settled(series[:30])  # two flat windows
    assert median_settled(series)


def test_median_settled_uses_the_tolerance_relative_to_the_earlier_window() -> None:
    # Medians 100 then 104: within 5%, not within 3%.
    series = [100.0] * 10 + [104.0] * 10
    assert median_settled(series, tolerance=0.05)
    assert not median_settled(series, tolerance=0.03)
    assert median_settled([1.0] * 6, window=3)


# --- summaries ------------------------------------------------------------------------


def test_latency_stats_by_hand() -> None:
    samples = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    result = _latency(samples, batch_size=2, warmup_calls=12, stopped_because="time limit")
    # mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; sample variance 32/7.
    assert (result.n, result.min_ms, result.max_ms, result.mean_ms) == (8, 2.0, 9.0, 5.0)
    assert result.std_ms == pytest.approx(math.sqrt(32 / 7))
    assert result.cv == pytest.approx(math.sqrt(32 / 7) / 5)
    assert result.samples_ms == tuple(samples)
    assert all(type(v) is float for v in result.samples_ms)
    assert list(result.percentiles_ms) == list(PERCENTILES)
    assert result.percentiles_ms["p50"].value == pytest.approx(4.5)  # position 3.5: 4..5
    assert all(result.percentiles_ms[p].insufficient for p in ("p90", "p95", "p99"))
    assert (result.batch_size, result.warmup_calls, result.stopped_because) == (
        2,
        12,
        "time limit",
    )


def test_latency_stats_of_one_sample_has_zero_spread() -> None:
    result = _latency([3.0])
    assert (result.std_ms, result.cv, result.n) == (0.0, 0.0, 1)
    assert result.percentiles_ms["p50"].insufficient


def test_latency_stats_reports_every_percentile_with_enough_samples() -> None:
    result = _latency(_normal(700))
    for name in PERCENTILES:
        estimate = result.percentiles_ms[name]
        assert not estimate.insufficient
        assert estimate.ci_low is not None and estimate.ci_high is not None
        assert estimate.ci_low < estimate.ci_high


def test_latency_stats_rejects_no_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        _latency([])


def test_throughput_inverts_the_median_latency() -> None:
    samples = [18.0, 19.0, 20.0, 20.0, 20.0, 21.0, 22.0, 40.0]
    estimate = throughput_estimate(samples, batch_size=4)
    # Median 20 ms: 4 samples per 0.020 s = 200 samples/s.
    assert estimate.value == pytest.approx(200.0)
    low_ms, high_ms = bootstrap_ci(samples, lambda a, axis: np.percentile(a, 50, axis=axis))
    # Decreasing map: the slowest median bound gives the lowest throughput.
    assert estimate.ci_low == pytest.approx(4000.0 / high_ms)
    assert estimate.ci_high == pytest.approx(4000.0 / low_ms)
    assert estimate.ci_low is not None and estimate.ci_high is not None
    assert estimate.ci_low <= 200.0 <= estimate.ci_high
    assert (estimate.insufficient, estimate.min_samples) == (False, 8)


def test_throughput_is_insufficient_below_the_median_minimum() -> None:
    assert throughput_estimate([20.0] * 7, batch_size=4) == Estimate(
        None, None, None, insufficient=True, min_samples=8
    )
    assert throughput_estimate([20.0] * 8, batch_size=4) == Estimate(
        200.0, 200.0, 200.0, insufficient=False, min_samples=8
    )


def test_throughput_rejects_a_non_positive_latency() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        throughput_estimate([0.0] * 8, batch_size=1)
