"""The efficiency budget on a slow model (issue 16): sampling reaches a p50's calls past
``max_seconds`` but never past its ceiling or the pass's deadline; the sweep stops at the
first batch that would not fit; a pass killed at its limit keeps what it recorded; a peak
the model outran is marked unreliable.

Calls that report their own time (as CUDA-event calls do) make the samples exact however
busy the machine is; only the wall-clock limits under test are real time, and the asserts
are on what was recorded, not on how long it took.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from harness.core.efficiency import ColdStart, Work
from harness.stages.efficiency import BUDGETS
from harness.stages.efficiency.protocol import ProfileReply
from harness.stages.efficiency.sampling import best_gflop_rate, sample_latency
from harness.stages.efficiency.stage import partial_profile, roofline
from harness.stages.efficiency.stats import latency_stats
from harness.stages.efficiency.worker import _sweep, sampling_notes

QUICK = BUDGETS["quick"]


def slow_call(milliseconds: float, sleep_s: float):
    def call() -> float:
        time.sleep(sleep_s)
        return milliseconds

    return call


def test_a_slow_model_is_sampled_to_the_p50_floor_past_max_seconds() -> None:
    budget = dataclasses.replace(
        QUICK, max_seconds=0.05, warmup_max_seconds=0.0, slow_min_calls=8, slow_max_seconds=60.0
    )
    # 20 ms a call: 2-3 calls fill max_seconds; the floor asks 8.
    result = sample_latency(slow_call(20.0, 0.02), budget)
    assert result.stopped_because == "time limit"
    assert len(result.samples_ms) == 8


def test_the_ceiling_stops_sampling_below_the_floor() -> None:
    budget = dataclasses.replace(
        QUICK, max_seconds=0.01, warmup_max_seconds=0.0, slow_min_calls=8, slow_max_seconds=0.1
    )
    # Each call reports 60 ms: the next would pass the 0.1 s ceiling after the first.
    result = sample_latency(slow_call(60.0, 0.06), budget)
    assert result.stopped_because == "time limit"
    assert 1 <= len(result.samples_ms) < 8


def test_the_pass_deadline_stops_sampling_before_a_call_would_overrun_it() -> None:
    budget = dataclasses.replace(QUICK, warmup_max_seconds=0.0, slow_max_seconds=600.0)
    # 100 ms a call and half a second left: the deadline stops it short of the p50 floor.
    deadline = time.perf_counter() + 0.5
    result = sample_latency(slow_call(100.0, 0.1), budget, deadline=deadline)
    assert result.stopped_because == "time limit"
    assert 1 <= len(result.samples_ms) < budget.slow_min_calls


def test_notes_say_the_time_limit_cut_sampling_and_whether_p50_is_missing() -> None:
    def stats(n: int):
        return latency_stats(
            [500.0] * n,
            batch_size=1,
            warmup_calls=1,
            warmup_settled=False,
            sampling_seconds=n * 0.5,
            stopped_because="time limit",
            target_ci_rel_width=0.1,
        )

    (few,) = sampling_notes(stats(3), QUICK)
    assert "time limit cut sampling at 3 calls" in few and "insufficient" in few
    (enough,) = sampling_notes(stats(8), QUICK)
    assert "8 calls" in enough and "insufficient" not in enough
    assert sampling_notes(stats(QUICK.min_calls), QUICK) == []


class FakeRunner:
    """A runner whose calls report ``ms_per_row`` per batch row (no real work)."""

    def __init__(self, ms_per_row: float) -> None:
        self.ms_per_row = ms_per_row

    def caller(self, feeds):
        rows = next(iter(feeds.values())).shape[0]
        return lambda: self.ms_per_row * rows


def test_the_sweep_stops_at_the_first_batch_that_would_not_fit() -> None:
    feeds = {"x": np.zeros((1, 4), np.float32)}
    deadline = time.perf_counter() + 5.0
    # 1 s a row: batch 1 needs a warm-up call and 8 calls, more than the 5 s left.
    sweep = _sweep(FakeRunner(1000.0), feeds, QUICK, None, per_call_s=1.0, deadline=deadline)
    assert sweep.points == ()
    assert sweep.stopped_because == "pass time limit: batch 1 would not fit in the time left"


def test_the_sweep_stops_where_a_rate_could_not_get_its_calls() -> None:
    feeds = {"x": np.zeros((1, 4), np.float32)}
    deadline = time.perf_counter() + 600.0
    # 2 s a row: 8 calls at batch 1 are 16 s, past the quick ceiling of 10 s.
    sweep = _sweep(FakeRunner(2000.0), feeds, QUICK, None, per_call_s=2.0, deadline=deadline)
    assert sweep.points == ()
    assert sweep.stopped_because.startswith("pass time limit: a rate at batch 1 needs 8 calls")


def test_a_fast_model_sweeps_every_batch() -> None:
    feeds = {"x": np.zeros((1, 4), np.float32)}
    budget = dataclasses.replace(QUICK, sweep_max_batch=4)
    deadline = time.perf_counter() + 600.0
    sweep = _sweep(FakeRunner(0.01), feeds, budget, None, per_call_s=1e-5, deadline=deadline)
    assert [p.batch_size for p in sweep.points] == [1, 2, 4]
    assert sweep.stopped_because == "budget limit (batch 4)"


def test_a_killed_pass_keeps_its_cold_start_and_samples() -> None:
    parts = {
        "settings": {"runtime": "onnxruntime"},
        "cold_start": {"load_ms": 1.0, "session_ms": 2.0, "first_call_ms": 900.0},
        "partial_samples_ms": [800.0, 810.0, 790.0],
    }
    profile = partial_profile(parts, limit_s=45.0)
    assert profile is not None
    assert profile.cold_start == ColdStart(1.0, 2.0, 900.0)
    assert profile.latency.samples_ms == (800.0, 810.0, 790.0)
    assert profile.latency.percentiles_ms["p50"].insufficient
    assert "cut at its time limit (45 s) while sampling" in profile.notes[0]


def test_a_pass_killed_before_its_first_call_leaves_nothing_to_keep() -> None:
    assert partial_profile({}, limit_s=45.0) is None


def make_profile(peak_gflops: float, p50_ms: float) -> ProfileReply:
    latency = latency_stats(
        [p50_ms] * 20,
        batch_size=1,
        warmup_calls=1,
        warmup_settled=True,
        sampling_seconds=1.0,
        stopped_because="ci within target",
        target_ci_rel_width=0.1,
    )
    return ProfileReply(
        settings={},
        cold_start=ColdStart(1.0, 1.0, 1.0),
        latency=latency,
        throughput=None,
        op_profile=None,
        peak_gflops=peak_gflops,
        peak_matmul_size=256,
        bandwidth_gbs=10.0,
        host_device_copy_ms=None,
    )


def make_work(flops: int) -> Work:
    return Work(
        batch_size=1,
        flops=flops,
        macs=flops // 2,
        by_op=(),
        top_nodes=(),
        uncounted_ops=(),
        weight_bytes=1,
        activation_bytes=1,
        arithmetic_intensity=1.0,
    )


def test_an_achieved_rate_above_the_peak_marks_the_peak_unreliable() -> None:
    # 2 GFLOP in 10 ms is 200 GFLOP/s against a 100 GFLOP/s peak.
    roof = roofline(make_profile(100.0, 10.0), make_work(2_000_000_000))
    assert roof is not None and not roof.peak_reliable
    assert "exceeds the measured peak" in (roof.peak_note or "")


def test_an_achieved_rate_under_the_peak_is_reliable() -> None:
    roof = roofline(make_profile(100.0, 10.0), make_work(500_000_000))
    assert roof is not None and roof.peak_reliable and roof.peak_note is None
    assert roof.percent_of_peak == 50.0


def test_the_peak_is_the_best_of_its_probes_with_the_model_called_between() -> None:
    between_calls = []
    times = iter([4.0] * 10 + [1.0] * 10 + [2.0] * 100)  # ms: the second probe is best

    def probe() -> float:
        return next(times)

    rate = best_gflop_rate(
        probe, 1e9, probes=3, seconds=0.0, between=lambda: between_calls.append(1)
    )
    assert len(between_calls) == 2  # between probes, not after the last
    assert rate >= 1e9 / 2e-3 / 1e9  # at least as good as the 2 ms probe
