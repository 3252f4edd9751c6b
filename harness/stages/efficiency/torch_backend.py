"""PyTorch eager as a profiling backend: a built module, timed calls (CUDA events on a GPU),
and the float32 matmul peak on the same device and threads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.core.config import AuditConfig
from harness.stages.efficiency.sampling import gflop_rate

__all__ = ["TorchModule", "matmul_call", "matmul_peak_gflops"]


class TorchModule:
    """A module built for profiling, and how long building it took."""

    def __init__(
        self,
        config: AuditConfig,
        device: str,
        threads: int | None,
        feeds: dict[str, np.ndarray] | None = None,
    ) -> None:
        import torch

        from harness.intake.loader import load_model

        if threads is not None:
            torch.set_num_threads(threads)
        started = time.perf_counter()
        model = load_model(config)
        # An ONNX file runs on torch through its onnx2torch conversion, called positionally
        # in the graph's input order (the converted module's argument names are mangled).
        self.input_order = [spec.name for spec in model.inputs]
        self.positional = model.format == "onnx"
        module = _twin_module(model, feeds or {}) if self.positional else model.module
        self.module = module.to(device).eval()
        if device == "cuda":
            torch.cuda.synchronize()
        self.load_ms = (time.perf_counter() - started) * 1e3
        self.session_ms = 0.0  # eager mode has no session to create
        self.device = device
        self.threads = threads

    def settings(self) -> dict[str, str]:
        import torch

        return {
            "runtime": f"torch {torch.__version__} eager",
            "device": self.device,
            "intra_op_threads": str(torch.get_num_threads()),
            "inference_mode": "yes",
        }

    def caller(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        """One inference; on CUDA the call returns its time in ms from CUDA events."""
        import torch

        tensors = {name: torch.from_numpy(a).to(self.device) for name, a in feeds.items()}
        module = self.module
        if self.positional:
            ordered = [tensors[name] for name in self.input_order]
            forward: Callable[[], Any] = lambda: module(*ordered)  # noqa: E731
        else:
            forward = lambda: module(**tensors)  # noqa: E731
        if self.device != "cuda":

            def call() -> Any:
                with torch.inference_mode():
                    return forward()

            return call
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def timed_call() -> float:
            with torch.inference_mode():
                start.record()
                forward()
                end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

        return timed_call

    def gpu_peak_bytes(self) -> int | None:
        import torch

        if self.device != "cuda":
            return None
        return int(torch.cuda.max_memory_allocated())


def _twin_module(model: Any, feeds: dict[str, np.ndarray]) -> Any:
    """The model's PyTorch twin, accepted only after it matches onnxruntime on ``feeds``."""
    from harness.twin import TorchTwin, to_torch

    twin = to_torch(model, feeds)
    if not isinstance(twin, TorchTwin):
        raise RuntimeError(twin.report.reason or "the PyTorch twin could not be built")
    return twin.module


def matmul_peak_gflops(n: int, device: str, threads: int | None, seconds: float) -> float:
    return gflop_rate(matmul_call(n, device, threads), 2.0 * n**3, seconds)


def matmul_call(n: int, device: str, threads: int | None) -> Callable[[], object]:
    """One n x n x n float32 matmul in torch, as a call (timed in short probes)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)

    def call() -> object:
        product = a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        return product

    return call
