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
    LatencyStats,
    MemoryPeaks,
    OpProfile,
    Throughput,
    ThroughputPoint,
)
from harness.core.serialize import from_jsonable, to_jsonable
from harness.stages.efficiency import memory
from harness.stages.efficiency.budget import BUDGETS, EfficiencyBudget
from harness.stages.efficiency.protocol import MeasureRequest, MemoryReply, ProfileReply
from harness.stages.efficiency.sampling import best_gflop_rate, sample_latency, time_calls
from harness.stages.efficiency.stats import MIN_SAMPLES, latency_stats, throughput_estimate

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
    """One profile pass, planned within the budget's ``pass_seconds``: the timing-free
    parts first (cold start, then the latency samples that fit, the peak, the op profile),
    the throughput sweep last, each part recorded in the progress file as it finishes."""
    budget = budget_of(request)
    deadline = time.perf_counter() + budget.pass_seconds
    progress = _Progress(request.progress_file)
    feeds = _feeds(request)
    runner = _open(request)
    call = runner.caller(feeds)
    first_call_ms = time_calls(call, 1)[0]
    cold = ColdStart(runner.load_ms, runner.session_ms, first_call_ms)
    progress.put("settings", runner.settings())
    progress.put("cold_start", cold)
    progress.put("batch_size", _batch_size(feeds))
    latency = _latency(call, budget, _batch_size(feeds), deadline, progress)
    notes = sampling_notes(latency, budget)
    per_call_s = float(np.median(latency.samples_ms)) / 1e3
    peak = _peak(request, budget, call, per_call_s)
    progress.put("peak_gflops", peak)
    progress.put("peak_matmul_size", budget.peak_matmul_size)
    op_profile = _op_profile(request, feeds, budget, per_call_s, deadline, notes)
    throughput = _sweep(runner, feeds, budget, request.sweep_blocked, per_call_s, deadline)
    if throughput.stopped_because.startswith("pass time limit"):
        notes.append(f"throughput sweep cut: {throughput.stopped_because}")
    return ProfileReply(
        settings=runner.settings(),
        cold_start=cold,
        latency=latency,
        throughput=throughput,
        op_profile=op_profile,
        peak_gflops=peak,
        peak_matmul_size=budget.peak_matmul_size,
        bandwidth_gbs=_bandwidth_gbs(),
        host_device_copy_ms=(
            runner.host_device_copy_ms(feeds)
            if request.device == "cuda" and request.backend == "onnxruntime"
            else None
        ),
        notes=tuple(notes),
    )


def budget_of(request: MeasureRequest) -> EfficiencyBudget:
    """The row the audit resolved, or the named one."""
    return request.budget_row or BUDGETS[request.budget]


def _latency(
    call: Any, budget: EfficiencyBudget, batch: int, deadline: float, progress: _Progress
) -> LatencyStats:
    samples = sample_latency(call, budget, deadline=deadline, on_sample=progress.samples)
    latency = latency_stats(
        list(samples.samples_ms),
        batch_size=batch,
        warmup_calls=samples.warmup_calls,
        warmup_settled=samples.warmup_settled,
        sampling_seconds=samples.sampling_seconds,
        stopped_because=samples.stopped_because,
        target_ci_rel_width=budget.target_ci_rel_width,
    )
    progress.put("latency", latency)
    return latency


def sampling_notes(latency: LatencyStats, budget: EfficiencyBudget) -> list[str]:
    """What the time limit did to the latency sample, in words (nothing when it did
    nothing a reader must know)."""
    if latency.stopped_because != "time limit" or latency.n >= budget.min_calls:
        return []
    need = MIN_SAMPLES["p50"]
    got = f"{latency.n} call{'s' if latency.n != 1 else ''} of {latency.mean_ms:.4g} ms"
    if latency.n < need:
        return [f"the time limit cut sampling at {got}: p50 needs {need}, so it is insufficient"]
    return [f"the time limit cut sampling at {got} (the budget asks {budget.min_calls})"]


class _Progress:
    """The pass's finished parts, rewritten whole after each one (through a temporary file
    and a rename, so a pass killed mid-write leaves the previous version readable)."""

    _SAMPLE_WRITE_EVERY_S = 1.0  # partial latency samples: at most one write a second

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.parts: dict[str, Any] = {}
        self._written_at = 0.0

    def put(self, key: str, value: object) -> None:
        self.parts[key] = to_jsonable(value)
        self._write()

    def samples(self, samples_ms: list[float]) -> None:
        if time.perf_counter() - self._written_at >= self._SAMPLE_WRITE_EVERY_S:
            self.parts["partial_samples_ms"] = list(samples_ms)
            self._write()

    def _write(self) -> None:
        self._written_at = time.perf_counter()
        if self.path is None:
            return
        staging = self.path.with_suffix(".tmp")
        staging.write_text(json.dumps(self.parts))
        staging.replace(self.path)


def _batch_size(feeds: dict[str, np.ndarray]) -> int:
    first = next(iter(feeds.values()))
    return int(first.shape[0]) if first.ndim else 1


def _sweep(
    runner: Any,
    feeds: dict[str, np.ndarray],
    budget: EfficiencyBudget,
    blocked: str | None,
    per_call_s: float,
    deadline: float,
) -> Throughput:
    point_budget = dataclasses.replace(budget, min_calls=10, warmup_max_calls=10)
    points: list[ThroughputPoint] = []
    sizes = [1] if blocked else _powers_of_two(budget.sweep_max_batch)
    stopped = blocked or f"budget limit (batch {budget.sweep_max_batch})"
    single = feeds if blocked else {name: a[:1] for name, a in feeds.items()}
    per_row_s = per_call_s / max(1, _batch_size(feeds))
    for size in sizes:
        batch = single if blocked else {n: np.concatenate([a] * size) for n, a in single.items()}
        if sum(a.nbytes for a in batch.values()) > budget.sweep_max_input_bytes:
            stopped = f"inputs of batch {size} exceed {budget.sweep_max_input_bytes >> 20} MiB"
            break
        call_s = per_row_s * size
        if budget.slow_min_calls * call_s > budget.slow_max_seconds:
            # Its calls would leave the rate insufficient: time spent for no number.
            stopped = (
                f"pass time limit: a rate at batch {size} needs {budget.slow_min_calls} calls "
                f"of about {call_s:.3g} s, more than the {budget.slow_max_seconds:g} s allowed"
            )
            break
        if time.perf_counter() + _point_seconds(budget, call_s) > deadline:
            stopped = f"pass time limit: batch {size} would not fit in the time left"
            break
        try:
            samples = sample_latency(
                runner.caller(batch),
                point_budget,
                min_seconds=budget.sweep_point_seconds,
                max_seconds=3 * budget.sweep_point_seconds,
                deadline=deadline,
            )
        except Exception as exc:  # out of memory, a batch the graph rejects
            stopped = f"batch {size} failed: {type(exc).__name__}: {str(exc)[:200]}"
            break
        points.append(_point(size, list(samples.samples_ms)))
    return Throughput(points=tuple(points), best_batch_size=_best(points), stopped_because=stopped)


def _point_seconds(budget: EfficiencyBudget, call_s: float) -> float:
    """How long one sweep point is expected to take: a warm-up call or more, then the
    calls a rate needs (or the point's time, when calls are quick)."""
    warm_up_s = max(call_s, min(budget.warmup_max_seconds, 10 * call_s))
    sampling_s = max(3 * budget.sweep_point_seconds, budget.slow_min_calls * call_s)
    return warm_up_s + min(sampling_s, budget.slow_max_seconds)


def _best(points: list[ThroughputPoint]) -> int:
    """The batch size of the highest measured rate (an insufficient rate is no rate);
    the first point's when none has one. Findings decide whether it is clearly best."""
    rated = [p for p in points if p.samples_per_s.value is not None]
    if not rated:
        return points[0].batch_size if points else 1
    return max(rated, key=lambda p: p.samples_per_s.value or 0.0).batch_size


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
    request: MeasureRequest,
    feeds: dict[str, np.ndarray],
    budget: EfficiencyBudget,
    per_call_s: float,
    deadline: float,
    notes: list[str],
) -> OpProfile | None:
    """onnxruntime's profiler over the budget's runs, or as many as fit in half the pass's
    time left (the sweep gets the rest)."""
    if request.backend != "onnxruntime" or request.model_path is None:
        return None
    from harness.stages.efficiency.ort_backend import op_profile

    allowed_s = (deadline - time.perf_counter()) / 2
    # One unprofiled-in-effect call precedes the profiled ones.
    fits = int(allowed_s / per_call_s) - 1 if per_call_s > 0 else budget.op_profile_runs
    runs = min(budget.op_profile_runs, fits)
    if runs < 1:
        notes.append("op profile not run: no profiled call fits in the pass's time left")
        return None
    if runs < budget.op_profile_runs:
        notes.append(
            f"op profile over {runs} calls, not the budget's {budget.op_profile_runs}: "
            "the pass's time limit"
        )
    threads = request.config.threads
    return op_profile(Path(request.model_path), request.device, threads, feeds, runs)


def _peak(request: MeasureRequest, budget: EfficiencyBudget, call: Any, per_call_s: float) -> float:
    """The best of short matmul probes taken between the model's own calls, so the peak
    is measured under the load the model ran under (see ``best_gflop_rate``). A model call
    longer than a probe is left out: the probes then run back to back."""
    n = budget.peak_matmul_size
    if request.backend == "onnxruntime":
        from harness.stages.efficiency.ort_backend import matmul_call
    else:
        from harness.stages.efficiency.torch_backend import matmul_call
    probe = matmul_call(n, request.device, request.config.threads)
    between = call if per_call_s <= budget.peak_seconds / max(1, budget.peak_probes) else None
    return best_gflop_rate(
        probe,
        2.0 * n**3,
        probes=budget.peak_probes,
        seconds=budget.peak_seconds,
        between=between,
    )


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
    budget = budget_of(request)
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
