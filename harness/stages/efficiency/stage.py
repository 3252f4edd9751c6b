"""The ``efficiency`` stage: plan the backend runs, measure each in a fresh subprocess,
count the work from the graph, and assemble the section.

    for each (backend, device) this model and machine allow:
        profile subprocess  -> cold start, latency, peak, op profile, throughput sweep
        memory subprocess   -> peak RSS of session creation and of inference
    in this process        -> FLOPs from the graph (no timing involved)

A slow model degrades the section, it never fails it: each pass plans within the budget's
``pass_seconds`` and notes what it cut; a pass that overruns that by ``_GRACE_SECONDS`` is
stopped, and the parts it had recorded (cold start, samples, peak) are kept with a note.
Only a pass that crashes or reports an error fails the stage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.efficiency import (
    BackendRun,
    ColdStart,
    EfficiencySection,
    LatencyStats,
    Roofline,
    Work,
)
from harness.core.errors import StageError
from harness.core.serialize import from_jsonable, to_jsonable
from harness.stages.context import AuditContext
from harness.stages.efficiency.budget import BUDGETS
from harness.stages.efficiency.protocol import MeasureRequest, MemoryReply, ProfileReply
from harness.stages.efficiency.stats import latency_stats
from harness.stages.efficiency.worker import budget_of

__all__ = ["efficiency_stage", "partial_profile", "plan_runs", "roofline"]

logger = logging.getLogger(__name__)

_ISOLATION = "each backend measured in fresh subprocesses (profile, then memory)"


def efficiency_stage(context: AuditContext) -> EfficiencySection:
    planned, not_measured = plan_runs(context)
    work = _count_work(context)
    runs = []
    with tempfile.TemporaryDirectory(prefix="harness-efficiency-") as folder:
        inputs_file = Path(folder) / "inputs.npz"
        np.savez(inputs_file, allow_pickle=False, **context.inputs.arrays)
        limit = BUDGETS[context.config.budget].pass_seconds
        threads = context.config.threads
        context.progress.plan(
            len(planned),
            "backend run",
            f"budget {context.config.budget}, threads {threads if threads else 'default'}",
        )
        for index, (backend, device) in enumerate(planned):
            context.progress.advance(
                index,
                f"{backend}/{device}: latency, throughput sweep, memory, cold start, profile "
                f"(batch {_batch(context)})",
                # The plan's bound: each remaining pass gets at most pass_seconds.
                limit * (len(planned) - index),
            )
            request = _request(context, backend, device, inputs_file)
            try:
                measured = _measure(request, work)
            except StageError as exc:
                if not _is_conversion(context, backend):
                    raise
                # onnx2torch lacking an op leaves onnxruntime's numbers standing.
                not_measured[f"{backend}/{device}"] = f"onnx2torch conversion failed: {exc}"
                continue
            if isinstance(measured, str):
                not_measured[f"{backend}/{device}"] = measured
            else:
                runs.append(measured)
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


def _batch(context: AuditContext) -> str:
    """The audit's batch size, from the first fed input with a leading dim."""
    shapes = [a.shape for a in context.inputs.arrays.values() if a.ndim]
    return str(shapes[0][0]) if shapes else "scalar"


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
        budget_row=BUDGETS[context.config.budget],
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


def _measure(request: MeasureRequest, work: Work | None) -> BackendRun | str:
    """The run, from whatever its passes finished; a reason instead when the profile pass
    was cut before it timed a single call."""
    progress_file = Path(request.inputs_file).with_name(f"{request.backend}-{request.device}.json")
    profile_request = dataclasses.replace(request, progress_file=str(progress_file))
    reply = _run_worker(profile_request)
    if reply is None:
        profile = partial_profile(_read_progress(progress_file), _pass_limit(request))
        if profile is None:
            return f"the profile pass was cut at {_pass_limit(request):.0f} s before one timed call"
    else:
        profile = from_jsonable(ProfileReply, reply)
    memory_reply = _run_worker(dataclasses.replace(request, mode="memory"))
    notes = list(profile.notes)
    memory = None
    if memory_reply is None:
        notes.append(f"memory not measured: its pass was cut at {_pass_limit(request):.0f} s")
    else:
        memory = from_jsonable(MemoryReply, memory_reply).memory
    return BackendRun(
        backend=request.backend,
        device=request.device,
        settings=profile.settings,
        cold_start=profile.cold_start,
        latency=profile.latency,
        throughput=profile.throughput,
        memory=memory,
        roofline=roofline(profile, work),
        op_profile=profile.op_profile,
        host_device_copy_ms=profile.host_device_copy_ms,
        notes=tuple(notes),
    )


def partial_profile(parts: dict[str, Any], limit_s: float) -> ProfileReply | None:
    """A profile pass killed at its time limit, from the parts it recorded: its cold start,
    its latency (or the samples it had), its peak; None without a single timed call."""
    if "settings" not in parts or "cold_start" not in parts:
        return None
    cold = from_jsonable(ColdStart, parts["cold_start"])
    cut = f"the pass was cut at its time limit ({limit_s:.0f} s)"
    if "latency" in parts:
        latency = from_jsonable(LatencyStats, parts["latency"])
        notes = [f"{cut}: no throughput sweep or op profile"]
    else:
        samples = parts.get("partial_samples_ms") or [cold.first_call_ms]
        where = "the cold first call" if "partial_samples_ms" not in parts else "the calls timed"
        latency = latency_stats(
            samples,
            batch_size=int(parts.get("batch_size", 1)),
            warmup_calls=0,
            warmup_settled=False,
            sampling_seconds=sum(samples) / 1e3,
            stopped_because="time limit",
            target_ci_rel_width=0.0,
        )
        notes = [f"{cut} while sampling latency: statistics from {where} ({len(samples)})"]
    peak = parts.get("peak_gflops")
    return ProfileReply(
        settings=parts["settings"],
        cold_start=cold,
        latency=latency,
        throughput=None,
        op_profile=None,
        peak_gflops=float(peak) if peak else 0.0,
        peak_matmul_size=int(parts.get("peak_matmul_size", 0)),
        bandwidth_gbs=0.0,
        host_device_copy_ms=None,
        notes=tuple(notes),
    )


def roofline(profile: ProfileReply, work: Work | None) -> Roofline | None:
    """The run's point on the roofline; None without a complete count of the work (an
    incomplete one is a lower bound, and a percent of peak from it would mislead) or
    without a measured peak. An achieved rate above the peak marks the peak unreliable."""
    p50 = profile.latency.percentiles_ms["p50"].value
    if work is None or not work.complete or not work.flops or not p50:
        return None
    if profile.peak_gflops <= 0:
        return None
    achieved = work.flops / (p50 / 1e3) / 1e9
    ridge = profile.peak_gflops / profile.bandwidth_gbs if profile.bandwidth_gbs else None
    reliable = achieved <= profile.peak_gflops
    return Roofline(
        peak_gflops=profile.peak_gflops,
        peak_matmul_size=profile.peak_matmul_size,
        bandwidth_gbs=profile.bandwidth_gbs or None,
        achieved_gflops=achieved,
        percent_of_peak=100.0 * achieved / profile.peak_gflops,
        arithmetic_intensity=work.arithmetic_intensity,
        ridge_intensity=ridge,
        peak_reliable=reliable,
        peak_note=None
        if reliable
        else (
            f"the model's {achieved:.4g} GFLOP/s exceeds the measured peak "
            f"{profile.peak_gflops:.4g} GFLOP/s: the peak probe ran under more load than "
            "the model did, so no percent of peak is claimed"
        ),
    )


# Beyond its planned pass_seconds, a pass gets this long to import, load and finish the
# call in flight before the audit process stops it and keeps what it recorded.
_GRACE_SECONDS = 60.0


def _pass_limit(request: MeasureRequest) -> float:
    return budget_of(request).pass_seconds + _GRACE_SECONDS


def _run_worker(request: MeasureRequest) -> dict[str, Any] | None:
    """The pass's reply; None when it ran past its time limit (it was stopped)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.stages.efficiency.worker"],
            input=json.dumps(to_jsonable(request)),
            capture_output=True,
            text=True,
            timeout=_pass_limit(request),
            env=_worker_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.info("%s/%s %s pass stopped at its time limit", request.backend,
                    request.device, request.mode)  # fmt: skip
        return None
    return _parse_reply(request, done)


def _read_progress(path: Path) -> dict[str, Any]:
    try:
        parts: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return parts


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
