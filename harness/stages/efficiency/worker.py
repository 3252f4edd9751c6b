"""The measuring subprocess: ``python -m harness.stages.efficiency.worker`` reads a
``MeasureRequest`` (JSON) on stdin and writes its reply on stdout.

Measurements run here, in a fresh process, because thread pools of torch and onnxruntime
spinning in one process skew each other (microsoft/onnxruntime#13808), and because the
memory high-water mark must start from a process that has loaded nothing else. The
onnxruntime backend never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.efficiency import (
    ColdStart,
    MemoryPeaks,
    OpProfile,
    Throughput,
    ThroughputPoint,
)
from harness.core.serialize import from_jsonable, to_jsonable
from harness.stages.efficiency import memory
from harness.stages.efficiency.budget import BUDGETS, EfficiencyBudget
from harness.stages.efficiency.protocol import MeasureRequest, MemoryReply, ProfileReply
from harness.stages.efficiency.sampling import sample_latency, time_calls
from harness.stages.efficiency.stats import latency_stats, throughput_estimate

_BANDWIDTH_BYTES = 64 << 20


def main() -> int:
    request = from_jsonable(MeasureRequest, json.loads(sys.stdin.read()))
    try:
        reply: Any = profile(request) if request.mode == "profile" else measure_memory(request)
    except Exception as exc:  # reported to the audit process, which fails the stage
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(to_jsonable(reply)))
    return 0


def _open(request: MeasureRequest) -> Any:
    threads = request.config.threads
    if request.backend == "onnxruntime":
        from harness.stages.efficiency.ort_backend import OrtSession

        assert request.model_path is not None
        return OrtSession(Path(request.model_path), request.device, threads)
    from harness.stages.efficiency.torch_backend import TorchModule

    return TorchModule(request.config, request.device, threads, _feeds(request))


def _feeds(request: MeasureRequest) -> dict[str, np.ndarray]:
    with np.load(request.inputs_file, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def profile(request: MeasureRequest) -> ProfileReply:
    budget = BUDGETS[request.budget]
    feeds = _feeds(request)
    runner = _open(request)
    call = runner.caller(feeds)
    first_call_ms = time_calls(call, 1)[0]
    cold = ColdStart(runner.load_ms, runner.session_ms, first_call_ms)
    batch = _batch_size(feeds)
    samples = sample_latency(call, budget)
    latency = latency_stats(
        list(samples.samples_ms),
        batch_size=batch,
        warmup_calls=samples.warmup_calls,
        warmup_settled=samples.warmup_settled,
        sampling_seconds=samples.sampling_seconds,
        stopped_because=samples.stopped_because,
        target_ci_rel_width=budget.target_ci_rel_width,
    )
    return ProfileReply(
        settings=runner.settings(),
        cold_start=cold,
        latency=latency,
        throughput=_sweep(runner, feeds, budget, request.sweep_blocked),
        op_profile=_op_profile(request, feeds, budget),
        peak_gflops=_peak(request, budget),
        peak_matmul_size=budget.peak_matmul_size,
        bandwidth_gbs=_bandwidth_gbs(),
        host_device_copy_ms=(
            runner.host_device_copy_ms(feeds)
            if request.device == "cuda" and request.backend == "onnxruntime"
            else None
        ),
    )


def _batch_size(feeds: dict[str, np.ndarray]) -> int:
    first = next(iter(feeds.values()))
    return int(first.shape[0]) if first.ndim else 1


def _sweep(
    runner: Any, feeds: dict[str, np.ndarray], budget: EfficiencyBudget, blocked: str | None
) -> Throughput:
    point_budget = dataclasses.replace(budget, min_calls=10, warmup_max_calls=10)
    points: list[ThroughputPoint] = []
    sizes = [1] if blocked else _powers_of_two(budget.sweep_max_batch)
    stopped = blocked or f"budget limit (batch {budget.sweep_max_batch})"
    single = feeds if blocked else {name: a[:1] for name, a in feeds.items()}
    for size in sizes:
        batch = single if blocked else {n: np.concatenate([a] * size) for n, a in single.items()}
        if sum(a.nbytes for a in batch.values()) > budget.sweep_max_input_bytes:
            stopped = f"inputs of batch {size} exceed {budget.sweep_max_input_bytes >> 20} MiB"
            break
        try:
            samples = sample_latency(
                runner.caller(batch),
                point_budget,
                min_seconds=budget.sweep_point_seconds,
                max_seconds=3 * budget.sweep_point_seconds,
            )
        except Exception as exc:  # out of memory, a batch the graph rejects
            stopped = f"batch {size} failed: {type(exc).__name__}: {str(exc)[:200]}"
            break
        points.append(_point(size, list(samples.samples_ms)))
    best = max(points, key=lambda p: p.samples_per_s.value or 0.0).batch_size if points else 1
    return Throughput(points=tuple(points), best_batch_size=best, stopped_because=stopped)


def _point(size: int, samples_ms: list[float]) -> ThroughputPoint:
    return ThroughputPoint(
        batch_size=size,
        samples_per_s=throughput_estimate(samples_ms, size),
        latency_p50_ms=float(np.median(samples_ms)),
        n=len(samples_ms),
    )


def _powers_of_two(limit: int) -> list[int]:
    sizes, size = [], 1
    while size <= limit:
        sizes.append(size)
        size *= 2
    return sizes


def _op_profile(
    request: MeasureRequest, feeds: dict[str, np.ndarray], budget: EfficiencyBudget
) -> OpProfile | None:
    if request.backend != "onnxruntime" or request.model_path is None:
        return None
    from harness.stages.efficiency.ort_backend import op_profile

    threads = request.config.threads
    return op_profile(Path(request.model_path), request.device, threads, feeds,
                      budget.op_profile_runs)  # fmt: skip


def _peak(request: MeasureRequest, budget: EfficiencyBudget) -> float:
    args = (budget.peak_matmul_size, request.device, request.config.threads, budget.peak_seconds)
    if request.backend == "onnxruntime":
        from harness.stages.efficiency.ort_backend import matmul_peak_gflops

        return matmul_peak_gflops(*args)
    from harness.stages.efficiency.torch_backend import matmul_peak_gflops as torch_peak

    return torch_peak(*args)


def _bandwidth_gbs() -> float:
    """Host memory bandwidth: a 64 MiB copy counts its bytes read and written."""
    source = np.ones(_BANDWIDTH_BYTES // 4, np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        np.copyto(target, source)
        samples.append(time.perf_counter() - started)
    return 2 * _BANDWIDTH_BYTES / float(np.median(samples)) / 1e9


def measure_memory(request: MeasureRequest) -> MemoryReply:
    budget = BUDGETS[request.budget]
    feeds = _feeds(request)
    baseline = memory.current_rss_bytes()
    with memory.watch_peak() as session_peak:
        runner = _open(request)
    call = runner.caller(feeds)
    with memory.watch_peak() as inference_peak:
        for _ in range(budget.memory_calls):
            call()
    gpu_peak = runner.gpu_peak_bytes() if hasattr(runner, "gpu_peak_bytes") else None
    return MemoryReply(
        MemoryPeaks(
            method=memory.method(),
            baseline_rss_bytes=baseline,
            session_peak_bytes=max(0, session_peak.peak_bytes - baseline),
            inference_peak_bytes=max(0, inference_peak.peak_bytes - baseline),
            weight_bytes=request.weight_bytes,
            gpu_peak_bytes=gpu_peak,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
