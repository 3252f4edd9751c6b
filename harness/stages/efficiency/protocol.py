"""What the audit process and the measuring subprocess say to each other (JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.core.config import AuditConfig
from harness.core.efficiency import ColdStart, LatencyStats, MemoryPeaks, OpProfile, Throughput
from harness.stages.efficiency.budget import EfficiencyBudget

__all__ = ["MeasureRequest", "MemoryReply", "ProfileReply"]


@dataclass(frozen=True)
class MeasureRequest:
    mode: Literal["profile", "memory"]
    backend: Literal["onnxruntime", "torch"]
    device: Literal["cpu", "cuda"]
    config: AuditConfig  # the model source, shapes and threads, as the audit resolved them
    model_path: str | None  # the .onnx file for onnxruntime
    inputs_file: str  # .npz of the audit's inputs, keyed by input name
    budget: str
    # Why the batch size cannot be swept (a fixed or unshared batch dim), or None.
    sweep_blocked: str | None
    weight_bytes: int
    # The budget row the audit resolved, so the worker measures with exactly its numbers
    # (a test that scales a row down reaches the subprocess too); None: BUDGETS[budget].
    budget_row: EfficiencyBudget | None = None
    # Where the worker records each finished part of a profile pass, so a pass killed at
    # its time limit still leaves its cold start, latency samples and peak behind.
    progress_file: str | None = None


@dataclass(frozen=True)
class ProfileReply:
    settings: dict[str, str]
    cold_start: ColdStart
    latency: LatencyStats
    throughput: Throughput | None
    op_profile: OpProfile | None
    peak_gflops: float
    peak_matmul_size: int
    bandwidth_gbs: float
    host_device_copy_ms: float | None
    notes: tuple[str, ...] = ()  # what the pass's time limit cut short


@dataclass(frozen=True)
class MemoryReply:
    memory: MemoryPeaks
