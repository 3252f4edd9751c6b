"""How much time the efficiency stage may spend, per ``--budget``; ``gate --ab`` reads the
same rows (the ``ab_`` fields), so one budget name means one effort everywhere.

Sampling stops when it has at least ``min_calls`` calls AND ``min_seconds`` AND the
bootstrap CI of the median is narrower than ``target_ci_rel_width``, or at the hard limits.
``thorough`` takes enough calls for a p99 (662) whenever the model allows it in time.

A slow model (seconds per call) still gets a p50: sampling goes past ``max_seconds`` until
it has ``slow_min_calls`` calls (the p50's minimum, 8), but never past ``slow_max_seconds``
nor the pass's own deadline. So the quick budget yields a p50 for any model up to 1 s per
call (8 calls in its 10 s ceiling); a slower model gets the calls that fit, and the p50 is
``insufficient`` with the run's notes saying the time limit cut sampling.

Each profile pass (cold start, latency, sweep, op profile, peak) plans within
``pass_seconds``: the sweep stops at the first batch size that would not fit (or whose
rate could not get its 8 calls within ``slow_max_seconds``), the op
profile runs as many calls as fit, and what was cut is noted. The audit process kills a
pass that overruns it (by a grace period) and keeps what the pass reported so far.

An A/B block holds as many calls as fit in ``ab_block_seconds`` (of the slower model),
within ``[ab_min_calls, ab_max_calls]``; with ``ab_min_calls`` per block the rounds reach
the profiler's ``min_calls`` of the same budget (20, 100, 700) even for a model slower
than a block.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.budget import BudgetTable

__all__ = ["BUDGETS", "EfficiencyBudget"]


@dataclass(frozen=True)
class EfficiencyBudget:
    # Latency sampling goes on to at least min_calls AND min_seconds, then stops once the
    # median's CI is narrow enough, or at max_calls or max_seconds, whichever comes first.
    min_calls: int
    min_seconds: float
    max_calls: int
    max_seconds: float
    target_ci_rel_width: float  # (CI high - CI low) / median of the latency median
    # Warm-up before sampling runs until the running median settles, within these limits.
    warmup_max_calls: int
    warmup_max_seconds: float
    sweep_max_batch: int  # the throughput sweep's largest batch size (1, 2, 4, ... up to it)
    sweep_point_seconds: float  # sampling time per batch size
    sweep_max_input_bytes: int  # no batch whose inputs exceed this
    op_profile_runs: int  # calls timed under onnxruntime's profiler (where time goes)
    peak_matmul_size: int  # side of the square float32 matmul timed for the machine's peak
    peak_seconds: float  # time spent timing that peak
    memory_calls: int  # calls in the pass that measures inference memory
    # A slow model: sampling goes on past max_seconds to slow_min_calls calls, within
    # slow_max_seconds; the whole profile pass plans within pass_seconds.
    slow_min_calls: int
    slow_max_seconds: float
    pass_seconds: float
    peak_probes: int  # short peak probes, interleaved with the model's calls; the best counts
    # gate --ab: both models timed in interleaved rounds.
    ab_rounds: int  # rounds; each times a block on each model, in shuffled order
    ab_block_seconds: float  # a block's length, in calls of the slower model
    ab_min_calls: int  # fewest calls in a block
    ab_max_calls: int  # most calls in a block
    ab_sessions: int  # sessions per model, used in turn round by round


BUDGETS: BudgetTable[EfficiencyBudget] = BudgetTable(
    quick=EfficiencyBudget(
        min_calls=20, min_seconds=0.2, max_calls=2_000, max_seconds=2.0,
        target_ci_rel_width=0.10, warmup_max_calls=50, warmup_max_seconds=0.5,
        sweep_max_batch=8, sweep_point_seconds=0.1, sweep_max_input_bytes=64 << 20,
        op_profile_runs=5, peak_matmul_size=256, peak_seconds=0.2, memory_calls=3,
        slow_min_calls=8, slow_max_seconds=10.0, pass_seconds=30.0, peak_probes=5,
        ab_rounds=20, ab_block_seconds=0.010, ab_min_calls=1, ab_max_calls=500, ab_sessions=2,
    ),
    standard=EfficiencyBudget(
        min_calls=100, min_seconds=1.0, max_calls=20_000, max_seconds=10.0,
        target_ci_rel_width=0.02, warmup_max_calls=200, warmup_max_seconds=2.0,
        sweep_max_batch=64, sweep_point_seconds=0.4, sweep_max_input_bytes=256 << 20,
        op_profile_runs=20, peak_matmul_size=512, peak_seconds=0.5, memory_calls=10,
        slow_min_calls=8, slow_max_seconds=30.0, pass_seconds=120.0, peak_probes=5,
        ab_rounds=50, ab_block_seconds=0.025, ab_min_calls=2, ab_max_calls=2_000, ab_sessions=3,
    ),
    thorough=EfficiencyBudget(
        min_calls=700, min_seconds=5.0, max_calls=200_000, max_seconds=60.0,
        target_ci_rel_width=0.01, warmup_max_calls=1_000, warmup_max_seconds=5.0,
        sweep_max_batch=256, sweep_point_seconds=1.5, sweep_max_input_bytes=1 << 30,
        op_profile_runs=50, peak_matmul_size=1024, peak_seconds=2.0, memory_calls=20,
        slow_min_calls=8, slow_max_seconds=120.0, pass_seconds=400.0, peak_probes=8,
        ab_rounds=100, ab_block_seconds=0.050, ab_min_calls=7, ab_max_calls=5_000, ab_sessions=4,
    ),
)  # fmt: skip
