"""The timing loops: warm-up until the median settles, then sample until the median is
pinned down. One ``perf_counter_ns`` sample per call; nothing else inside the timed region.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.stages.efficiency.budget import EfficiencyBudget
from harness.stages.efficiency.stats import median_ci_relative_width, median_settled

__all__ = ["Samples", "gflop_rate", "sample_latency", "time_calls", "warm_up"]

# How often the stopping rule is evaluated (it costs a bootstrap).
_CHECK_EVERY = 25


@dataclass(frozen=True)
class Samples:
    samples_ms: tuple[float, ...]
    warmup_calls: int
    warmup_settled: bool
    sampling_seconds: float
    stopped_because: str


def time_calls(call: Callable[[], object], count: int) -> list[float]:
    """``count`` timed calls, in milliseconds."""
    return [_timed(call) for _ in range(count)]


def _timed(call: Callable[[], object]) -> float:
    """Milliseconds of one call: wall time, or the device time the call itself reports
    (a float, from CUDA events) when it returns one."""
    clock = time.perf_counter_ns
    started = clock()
    reported = call()
    wall_ms = (clock() - started) / 1e6
    return reported if isinstance(reported, float) else wall_ms


def warm_up(call: Callable[[], object], budget: EfficiencyBudget) -> tuple[int, bool]:
    """Call until the running median settles or the warm-up bound is hit."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget.warmup_max_seconds
    while len(samples) < budget.warmup_max_calls and time.perf_counter() < deadline:
        samples.extend(time_calls(call, 1))
        if median_settled(samples):
            return len(samples), True
    return len(samples), False


def sample_latency(
    call: Callable[[], object],
    budget: EfficiencyBudget,
    *,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
) -> Samples:
    """Warm up, then sample until calls AND time AND CI width are all satisfied."""
    warmup_calls, settled = warm_up(call, budget)
    min_s = budget.min_seconds if min_seconds is None else min_seconds
    max_s = budget.max_seconds if max_seconds is None else max_seconds
    samples: list[float] = []
    started = time.perf_counter()
    while True:
        samples.append(_timed(call))
        elapsed = time.perf_counter() - started
        # The CI check costs a bootstrap: only every few calls, and once the floors are met.
        check_ci = len(samples) % _CHECK_EVERY == 0
        reason = _stop_reason(samples, elapsed, budget, min_s, max_s, check_ci)
        if reason:
            return Samples(tuple(samples), warmup_calls, settled, elapsed, reason)


def _stop_reason(
    samples: list[float],
    elapsed: float,
    budget: EfficiencyBudget,
    min_s: float,
    max_s: float,
    check_ci: bool,
) -> str | None:
    if elapsed >= max_s:
        return "time limit"
    if len(samples) >= budget.max_calls:
        return "call limit"
    if len(samples) < budget.min_calls or elapsed < min_s or not check_ci:
        return None
    if median_ci_relative_width(samples) <= budget.target_ci_rel_width:
        return "ci within target"
    return None


def gflop_rate(call: Callable[[], object], flops: float, seconds: float) -> float:
    """GFLOP/s of ``call`` (which does ``flops`` of work) from its median time over at
    least ``seconds`` and 5 calls, after one untimed call."""
    call()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        samples.extend(time_calls(call, 1))
    return flops / (statistics.median(samples) / 1e3) / 1e9
