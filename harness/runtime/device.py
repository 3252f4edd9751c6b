"""Which device the audit runs on: ``--device cpu|cuda|auto`` against what the machine has."""

from __future__ import annotations

from typing import Literal

from harness.core.config import DeviceRequest
from harness.core.errors import UsageError
from harness.core.model import ModelFormat

__all__ = ["Device", "cuda_problem", "resolve_device"]

Device = Literal["cpu", "cuda"]


def resolve_device(request: DeviceRequest, model_format: ModelFormat) -> Device:
    """``auto`` takes CUDA when it is usable for this model's runtime, else the CPU."""
    if request == "cpu":
        return "cpu"
    problem = cuda_problem(model_format)
    if problem is None:
        return "cuda"
    if request == "cuda":
        raise UsageError(f"--device cuda, but {problem}; use --device cpu or auto")
    return "cpu"


def cuda_problem(model_format: ModelFormat) -> str | None:
    """Why CUDA cannot run this model here, or None when it can."""
    if model_format == "onnx":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return (
                "onnxruntime on this machine has no CUDAExecutionProvider "
                "(install the [gpu] extra on a machine with CUDA)"
            )
    # onnxruntime-gpu lists its CUDA provider even where no GPU or driver is present.
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA device on this machine"
    return None
