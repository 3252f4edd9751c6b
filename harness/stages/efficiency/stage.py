"""The ``efficiency`` stage: plan the backend runs, measure each in a fresh subprocess,
count the work from the graph, and assemble the section.

    for each (backend, device) this model and machine allow:
        profile subprocess  -> cold start, latency, throughput sweep, op profile, peak
        memory subprocess   -> peak RSS of session creation and of inference
    in this process        -> FLOPs from the graph (no timing involved)
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.efficiency import BackendRun, EfficiencySection, Roofline, Work
from harness.core.errors import StageError
from harness.core.serialize import from_jsonable, to_jsonable
from harness.stages.context import AuditContext
from harness.stages.efficiency.budget import BUDGETS
from harness.stages.efficiency.protocol import MeasureRequest, MemoryReply, ProfileReply

__all__ = ["efficiency_stage", "plan_runs"]

_ISOLATION = "each backend measured in fresh subprocesses (profile, then memory)"


def efficiency_stage(context: AuditContext) -> EfficiencySection:
    planned, not_measured = plan_runs(context)
    work = _count_work(context)
    runs = []
    with tempfile.TemporaryDirectory(prefix="harness-efficiency-") as folder:
        inputs_file = Path(folder) / "inputs.npz"
        np.savez(inputs_file, allow_pickle=False, **context.inputs.arrays)
        for backend, device in planned:
            request = _request(context, backend, device, inputs_file)
            try:
                runs.append(_measure(request, work))
            except StageError as exc:
                if not _is_conversion(context, backend):
                    raise
                # onnx2torch lacking an op leaves onnxruntime's numbers standing.
                not_measured[f"{backend}/{device}"] = f"onnx2torch conversion failed: {exc}"
    return EfficiencySection(
        status="ok",
        budget=context.config.budget,
        isolation=_ISOLATION,
        runs=tuple(runs),
        work=work,
        not_measured=not_measured,
    )


def plan_runs(context: AuditContext) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(backend, device) pairs to measure, and those left out with the reason."""
    native = "onnxruntime" if context.model.format == "onnx" else "torch"
    wanted = {
        "auto": [native],
        "onnxruntime": ["onnxruntime"],
        "torch": ["torch"],
        "all": ["onnxruntime", "torch"],
    }[context.config.backend]
    not_measured: dict[str, str] = {}
    if context.model.format != "onnx" and "onnxruntime" in wanted:
        wanted.remove("onnxruntime")
        not_measured["onnxruntime/cpu"] = (
            "a PyTorch model has no ONNX graph; export it to ONNX to measure onnxruntime"
        )
    if context.model.format == "onnx" and "torch" not in wanted:
        not_measured["torch/cpu"] = "not requested (--backend torch or all runs onnx2torch)"
    planned = []
    for backend in wanted:
        planned.append((backend, "cpu"))
        if context.device == "cuda":
            planned.append((backend, "cuda"))
        else:
            not_measured[f"{backend}/cuda"] = "skipped: no CUDA device"
    return planned, not_measured


def _is_conversion(context: AuditContext, backend: str) -> bool:
    return backend == "torch" and context.model.format == "onnx"


def _request(context: AuditContext, backend: str, device: str, inputs_file: Path) -> MeasureRequest:
    model = context.model
    return MeasureRequest(
        mode="profile",
        backend=backend,  # type: ignore[arg-type]
        device=device,  # type: ignore[arg-type]
        config=context.config,
        model_path=str(model.path) if model.path else None,
        inputs_file=str(inputs_file),
        budget=context.config.budget,
        sweep_blocked=_sweep_blocked(context),
        weight_bytes=context.summary.parameter_bytes,
    )


def _sweep_blocked(context: AuditContext) -> str | None:
    """Why the batch cannot be swept: every input must share one symbolic axis-0 dim."""
    firsts = {spec.shape[0] if spec.shape else None for spec in context.model.inputs}
    if len(firsts) != 1:
        return "inputs do not share a batch dim; measured at the audit's batch only"
    (first,) = firsts
    if isinstance(first, int):
        return f"batch dim is fixed at {first}"
    if first is None:
        return "batch dim is unnamed; measured at the audit's batch only"
    if any(t.source == "value" for t in context.inputs.tensors):
        return "an input is a --value constant; measured at the audit's batch only"
    return None


def _measure(request: MeasureRequest, work: Work | None) -> BackendRun:
    profile = from_jsonable(ProfileReply, _run_worker(request))
    memory_request = dataclasses.replace(request, mode="memory")
    memory = from_jsonable(MemoryReply, _run_worker(memory_request)).memory
    return BackendRun(
        backend=request.backend,
        device=request.device,
        settings=profile.settings,
        cold_start=profile.cold_start,
        latency=profile.latency,
        throughput=profile.throughput,
        memory=memory,
        roofline=_roofline(profile, work),
        op_profile=profile.op_profile,
        host_device_copy_ms=profile.host_device_copy_ms,
    )


def _roofline(profile: ProfileReply, work: Work | None) -> Roofline | None:
    """The run's point on the roofline; None without a complete count of the work (an
    incomplete one is a lower bound, and a percent of peak from it would mislead)."""
    p50 = profile.latency.percentiles_ms["p50"].value
    if work is None or not work.complete or not work.flops or not p50:
        return None
    achieved = work.flops / (p50 / 1e3) / 1e9
    ridge = profile.peak_gflops / profile.bandwidth_gbs if profile.bandwidth_gbs else None
    return Roofline(
        peak_gflops=profile.peak_gflops,
        peak_matmul_size=profile.peak_matmul_size,
        bandwidth_gbs=profile.bandwidth_gbs,
        achieved_gflops=achieved,
        percent_of_peak=100.0 * achieved / profile.peak_gflops,
        arithmetic_intensity=work.arithmetic_intensity,
        ridge_intensity=ridge,
    )


def _run_worker(request: MeasureRequest) -> dict[str, Any]:
    budget = BUDGETS[request.budget]
    # Generous: warm-up, sampling, sweep, profiler and peak each have their own bound.
    timeout = (
        60 + 4 * (budget.max_seconds + budget.warmup_max_seconds) + 60 * budget.sweep_point_seconds
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.stages.efficiency.worker"],
            input=json.dumps(to_jsonable(request)),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_worker_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StageError(
            f"{request.backend}/{request.device} {request.mode} pass took over {timeout:.0f} s; "
            "try --budget quick"
        ) from exc
    return _parse_reply(request, done)


def _parse_reply(request: MeasureRequest, done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    where = f"{request.backend}/{request.device} {request.mode} pass"
    try:
        reply = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StageError(f"{where} crashed (exit {done.returncode}): {tail}") from exc
    if "error" in reply:
        raise StageError(f"{where} failed: {reply['error']}")
    data: dict[str, Any] = reply
    return data


def _worker_env() -> dict[str, str]:
    """The worker imports what this process can: its sys.path, as PYTHONPATH."""
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _count_work(context: AuditContext) -> Work | None:
    from harness.stages.efficiency.flops import count_onnx_work, count_torch_work

    arrays = context.inputs.arrays
    if context.model.format == "onnx":
        shapes = {name: tuple(a.shape) for name, a in arrays.items()}
        # The arrays let the counter observe in onnxruntime the shapes inference misses.
        return count_onnx_work(
            context.model.onnx_proto, shapes, inputs=arrays, threads=context.config.threads
        )
    return count_torch_work(context.model.module, arrays)
