"""How much time the profiler may spend, per ``--budget``.

Sampling stops when it has at least ``min_calls`` calls AND ``min_seconds`` AND the
bootstrap CI of the median is narrower than ``target_ci_rel_width``, or at the hard limits.
``thorough`` takes enough calls for a p99 (662) whenever the model allows it in time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILE_BUDGETS", "ProfileBudget"]


@dataclass(frozen=True)
class ProfileBudget:
    min_calls: int
    min_seconds: float
    max_calls: int
    max_seconds: float
    target_ci_rel_width: float  # (CI high - CI low) / median of the latency median
    warmup_max_calls: int
    warmup_max_seconds: float
    sweep_max_batch: int
    sweep_point_seconds: float  # sampling time per batch size
    sweep_max_input_bytes: int  # no batch whose inputs exceed this
    op_profile_runs: int
    peak_matmul_size: int
    peak_seconds: float
    memory_calls: int


PROFILE_BUDGETS: dict[str, ProfileBudget] = {
    "quick": ProfileBudget(
        min_calls=20, min_seconds=0.2, max_calls=2_000, max_seconds=2.0,
        target_ci_rel_width=0.10, warmup_max_calls=50, warmup_max_seconds=0.5,
        sweep_max_batch=8, sweep_point_seconds=0.1, sweep_max_input_bytes=64 << 20,
        op_profile_runs=5, peak_matmul_size=256, peak_seconds=0.2, memory_calls=3,
    ),
    "standard": ProfileBudget(
        min_calls=100, min_seconds=1.0, max_calls=20_000, max_seconds=10.0,
        target_ci_rel_width=0.02, warmup_max_calls=200, warmup_max_seconds=2.0,
        sweep_max_batch=64, sweep_point_seconds=0.4, sweep_max_input_bytes=256 << 20,
        op_profile_runs=20, peak_matmul_size=512, peak_seconds=0.5, memory_calls=10,
    ),
    "thorough": ProfileBudget(
        min_calls=700, min_seconds=5.0, max_calls=200_000, max_seconds=60.0,
        target_ci_rel_width=0.01, warmup_max_calls=1_000, warmup_max_seconds=5.0,
        sweep_max_batch=256, sweep_point_seconds=1.5, sweep_max_input_bytes=1 << 30,
        op_profile_runs=50, peak_matmul_size=1024, peak_seconds=2.0, memory_calls=20,
    ),
}  # fmt: skip
