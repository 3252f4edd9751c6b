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

__all__ = ["Samples", "best_gflop_rate", "gflop_rate", "sample_latency", "time_calls", "warm_up"]

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
    deadline: float | None = None,
    on_sample: Callable[[list[float]], None] | None = None,
) -> Samples:
    """Warm up, then sample until calls AND time AND CI width are all satisfied.

    At ``max_seconds`` sampling stops only once it has ``budget.slow_min_calls`` calls (a
    slow model still gets a p50); past ``budget.slow_max_seconds`` or the pass's
    ``deadline`` (a ``time.perf_counter()`` instant) it stops with what it has.
    ``on_sample`` sees the samples so far after each call, outside the timed region."""
    warmup_calls, settled = warm_up(call, budget)
    limits = _Limits(
        min_seconds=budget.min_seconds if min_seconds is None else min_seconds,
        max_seconds=budget.max_seconds if max_seconds is None else max_seconds,
        ceiling_seconds=budget.slow_max_seconds,
        deadline=deadline,
    )
    samples: list[float] = []
    started = time.perf_counter()
    while True:
        samples.append(_timed(call))
        elapsed = time.perf_counter() - started
        if on_sample is not None:
            on_sample(samples)
        # The CI check costs a bootstrap: only every few calls, and once the floors are met.
        check_ci = len(samples) % _CHECK_EVERY == 0
        reason = _stop_reason(samples, elapsed, budget, limits, check_ci)
        if reason:
            return Samples(tuple(samples), warmup_calls, settled, elapsed, reason)


@dataclass(frozen=True)
class _Limits:
    min_seconds: float
    max_seconds: float
    ceiling_seconds: float  # a slow model's sampling never runs past this
    deadline: float | None  # the pass's end, as a perf_counter instant


def _stop_reason(
    samples: list[float],
    elapsed: float,
    budget: EfficiencyBudget,
    limits: _Limits,
    check_ci: bool,
) -> str | None:
    if _out_of_time(samples, elapsed, budget, limits):
        return "time limit"
    if len(samples) >= budget.max_calls:
        return "call limit"
    if len(samples) < budget.min_calls or elapsed < limits.min_seconds or not check_ci:
        return None
    if median_ci_relative_width(samples) <= budget.target_ci_rel_width:
        return "ci within target"
    return None


def _out_of_time(
    samples: list[float], elapsed: float, budget: EfficiencyBudget, limits: _Limits
) -> bool:
    # The next call is expected to take as long as the last one: stop before it would
    # overrun the pass rather than be killed in the middle of it.
    next_call_s = samples[-1] / 1e3
    if limits.deadline is not None and time.perf_counter() + next_call_s > limits.deadline:
        return True
    if elapsed + next_call_s > max(limits.ceiling_seconds, limits.max_seconds):
        return True
    floor = min(budget.slow_min_calls, budget.min_calls)
    return elapsed >= limits.max_seconds and len(samples) >= floor


def gflop_rate(
    call: Callable[[], object], flops: float, seconds: float, *, min_calls: int = 5
) -> float:
    """GFLOP/s of ``call`` (which does ``flops`` of work) from its median time over at
    least ``seconds`` and ``min_calls`` calls, after one untimed call."""
    call()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < min_calls:
        samples.extend(time_calls(call, 1))
    return flops / (statistics.median(samples) / 1e3) / 1e9


def best_gflop_rate(
    probe: Callable[[], object],
    flops: float,
    *,
    probes: int,
    seconds: float,
    between: Callable[[], object] | None = None,
) -> float:
    """The best GFLOP/s of ``probes`` short probes of ``probe``, ``between`` called once
    after each but the last. One long probe reads low when another process takes the cores
    for part of it; the best of several short ones, taken among the model's own calls,
    is measured under the conditions the model was (so the two can be compared)."""
    rates = []
    for index in range(max(1, probes)):
        rates.append(gflop_rate(probe, flops, seconds / max(1, probes), min_calls=3))
        if between is not None and index < probes - 1:
            between()
    return max(rates)
