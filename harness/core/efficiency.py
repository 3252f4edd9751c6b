"""The result's ``efficiency`` section: what the profiler measured, with its uncertainty.

Units are in the field names. Raw latency samples are kept beside every statistic, so a
report or the regression gate can recompute anything. A statistic the samples cannot bound
(a p99 from 100 calls) is ``insufficient`` with ``value`` None, never a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BackendRun",
    "ColdStart",
    "EfficiencySection",
    "Estimate",
    "LatencyStats",
    "MemoryPeaks",
    "NodeFlops",
    "NodeTime",
    "OpFlops",
    "OpProfile",
    "OpTime",
    "Roofline",
    "Throughput",
    "ThroughputPoint",
    "Work",
]

Backend = Literal["onnxruntime", "torch"]
DeviceName = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap 95% confidence interval."""

    value: float | None  # None when insufficient
    ci_low: float | None
    ci_high: float | None
    insufficient: bool  # too few samples to bound it (see ``min_samples``)
    min_samples: int  # samples this statistic needs before it is reported


@dataclass(frozen=True)
class LatencyStats:
    """Steady-state latency of one call, from one ``perf_counter_ns`` sample per call."""

    batch_size: int
    n: int
    min_ms: float
    mean_ms: float
    std_ms: float
    cv: float  # std / mean
    max_ms: float
    percentiles_ms: dict[str, Estimate]  # "p50", "p90", "p95", "p99"
    warmup_calls: int
    warmup_settled: bool  # False when warm-up hit its bound before the median settled
    sampling_seconds: float
    stopped_because: str  # "ci within target", "time limit", "call limit"
    target_ci_rel_width: float  # the budget's target for the median's CI width / median
    samples_ms: tuple[float, ...]  # every timed call, in order


@dataclass(frozen=True)
class ColdStart:
    """The first moments apart from steady state."""

    load_ms: float  # reading and parsing the model (ONNX file or module build)
    session_ms: float  # runtime session creation (0 for torch eager)
    first_call_ms: float  # the first inference, before any warm-up


@dataclass(frozen=True)
class ThroughputPoint:
    batch_size: int
    samples_per_s: Estimate  # from the median batch latency, with its CI
    latency_p50_ms: float
    n: int


@dataclass(frozen=True)
class Throughput:
    points: tuple[ThroughputPoint, ...]
    best_batch_size: int  # the batch size with the highest median samples/s
    stopped_because: str  # why the sweep ended: budget limit, memory, fixed batch dim, ...


@dataclass(frozen=True)
class MemoryPeaks:
    """Peak resident memory, measured in a pass of its own."""

    method: Literal["vmhwm", "psutil-poll"]
    baseline_rss_bytes: int  # before the session existed
    session_peak_bytes: int  # high-water mark during session creation, above baseline
    inference_peak_bytes: int  # high-water mark during inference, above baseline
    weight_bytes: int  # the model's parameters, for scale
    gpu_peak_bytes: int | None = None  # torch.cuda.max_memory_allocated / NVML


@dataclass(frozen=True)
class OpFlops:
    op_type: str
    count: int
    flops: int
    macs: int


@dataclass(frozen=True)
class NodeFlops:
    name: str
    op_type: str
    flops: int


WorkStatus = Literal["complete", "incomplete"]


@dataclass(frozen=True)
class Work:
    """Arithmetic of one inference at the audit's input shapes, counted from the graph.

    ``status`` "incomplete": the counter could not tell the cost of too many nodes (see
    ``incomplete_reason``), so ``flops``, ``macs`` and ``arithmetic_intensity`` are only the
    sums over the nodes it did count, a lower bound: no reader may show or judge them as the
    model's count (the report says "incomplete", no roofline is drawn, the headline
    ``work.flops`` has no value).
    """

    batch_size: int
    flops: int
    macs: int
    by_op: tuple[OpFlops, ...]  # most first
    top_nodes: tuple[NodeFlops, ...]
    uncounted_ops: tuple[str, ...]  # op types whose cost is not known (counted as 0)
    weight_bytes: int
    activation_bytes: int  # every intermediate tensor written once
    arithmetic_intensity: float  # flops / (weight_bytes + activation_bytes)
    # Optional (older results have none): a result without them was counted as complete.
    status: WorkStatus = "complete"
    unknown_cost_share: float = 0.0  # nodes whose cost is unknown / all nodes of the graph
    incomplete_reason: str | None = None  # set exactly when status is "incomplete"

    @property
    def complete(self) -> bool:
        """Whether ``flops`` is the model's count (and not a lower bound)."""
        return self.status == "complete"


@dataclass(frozen=True)
class Roofline:
    """Achieved speed against the machine's peak, measured in the same run."""

    peak_gflops: float  # float32 matmul microbenchmark on the same backend
    peak_matmul_size: int  # n of the n x n x n matmul that measured it
    bandwidth_gbs: float | None  # memory copy microbenchmark
    achieved_gflops: float  # work.flops / p50 latency
    percent_of_peak: float
    arithmetic_intensity: float
    ridge_intensity: float | None  # peak_gflops / bandwidth_gbs: flops per byte
    # Optional (older results have none). False when the achieved rate exceeds the measured
    # peak: the peak probe ran under more contention than the model did, so no percentage
    # or point above the roof is shown; ``peak_note`` says why.
    peak_reliable: bool = True
    peak_note: str | None = None


@dataclass(frozen=True)
class OpTime:
    op_type: str
    count: int  # nodes of this type
    mean_us: float  # per inference, all its nodes
    share: float  # of the total node time


@dataclass(frozen=True)
class NodeTime:
    name: str
    op_type: str
    mean_us: float


@dataclass(frozen=True)
class OpProfile:
    """onnxruntime's own profiler, run once: where the time goes."""

    runs: int
    by_op: tuple[OpTime, ...]  # most first
    slowest_nodes: tuple[NodeTime, ...]


@dataclass(frozen=True)
class BackendRun:
    """Everything measured on one backend and device."""

    backend: Backend
    device: DeviceName
    settings: dict[str, str]  # threads, graph optimisation level, providers, IO binding
    cold_start: ColdStart
    latency: LatencyStats
    throughput: Throughput | None
    memory: MemoryPeaks | None
    roofline: Roofline | None
    op_profile: OpProfile | None
    host_device_copy_ms: float | None = None  # CUDA with IO binding: copies apart
    # Optional (older results have none): what cut this run's measuring short (a pass time
    # limit, too few calls in time), so a partial figure says it is partial.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EfficiencySection:
    status: Literal["ok", "skipped", "failed"]
    reason: str | None = None
    budget: str | None = None
    isolation: str | None = None  # how the measurement was kept apart: "subprocess"
    runs: tuple[BackendRun, ...] = ()
    work: Work | None = None
    # Backend/device pairs not measured, and why: {"onnxruntime/cuda": "no CUDA device"}.
    not_measured: dict[str, str] = field(default_factory=dict)
