"""One forward pass on the resolved inputs: proves the model runs, and records its outputs.

Runtime failures are mapped here: an op the runtime lacks is an unsupported model, a run
that fails on the fed shapes is bad input, and NaN or infinite outputs stop the audit
(every later stage would measure garbage). A large batch runs in chunks
(``harness.runtime.chunks``), so the pass's peak memory stays bounded.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.core.array_stats import value_range
from harness.core.errors import (
    FOREIGN_TEXT_LIMIT,
    InputResolutionError,
    ModelLoadError,
    ModelOutputError,
    UnsupportedModelError,
    first_line,
    shorten,
)
from harness.core.model import LoadedModel, shape_text
from harness.core.result import ObservedOutput
from harness.core.sessions import SessionSettings, create_session
from harness.runtime.chunks import run_in_chunks
from harness.runtime.device import Device

__all__ = ["create_onnx_session", "observe_outputs", "run_forward"]


def run_forward(
    model: LoadedModel, arrays: dict[str, np.ndarray], device: Device, threads: int | None
) -> dict[str, np.ndarray]:
    """Output name -> array, every value finite."""
    if model.format == "onnx":
        run = _onnx_runner(model, device, threads)
    else:
        run = _torch_runner(model, device)
    outputs = run_in_chunks(run, model, arrays)
    _check_finite(outputs)
    return outputs


def create_onnx_session(model: LoadedModel, device: Device, threads: int | None) -> Any:
    """An onnxruntime session for ``model`` on the audit's device and threads; creation
    errors mapped to the harness's tree."""
    settings = SessionSettings(device=device, intra_op_threads=threads)
    try:
        # From the path, so external data resolves against the model's folder.
        return create_session(str(model.path), settings)
    except Exception as exc:
        raise _session_error(model, exc) from exc


def _session_error(model: LoadedModel, exc: Exception) -> Exception:
    message = _onnxruntime_cause(exc)
    if type(exc).__name__ == "NotImplemented" or any(
        marker in message
        for marker in ("Could not find an implementation", "is not a registered function/op")
    ):
        return UnsupportedModelError(
            f"onnxruntime cannot run {model.name}: {message}; the op or its version is not "
            "implemented by this onnxruntime (upgrade it, or re-export with another opset)"
        )
    if any(marker in message for marker in _OUT_OF_MEMORY_MARKERS):
        return ModelLoadError(
            f"onnxruntime ran out of memory loading {model.name}: {message}; free memory, "
            "or use a machine (or with --device, a device) with more"
        )
    return ModelLoadError(f"onnxruntime cannot load {model.name}: {message}")


# onnxruntime puts where in its C++ source a failure was raised before the cause:
# "/onnxruntime_src/.../bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(
# size_t, bool, ...) Failed to allocate memory for requested buffer of size 4000000000".
# The location, and the function's signature when one follows, say nothing to a user.
_SOURCE_LOCATION = re.compile(
    r"\S+\.(?:cc|cpp|cu|h|hpp):\d+\s+(?:[\w:<>,*& ]*::~?\w+\([^()]*\)(?:\s*const)?\s*)?"
)
_OUT_OF_MEMORY_MARKERS = ("Failed to allocate memory", "bad_alloc", "out of memory")


def _onnxruntime_cause(exc: Exception) -> str:
    """The first line of an onnxruntime error without its source location, cut to a
    readable length keeping its end: the cause ("Failed to allocate memory") comes last."""
    line = first_line(exc, limit=sys.maxsize)
    return shorten(_SOURCE_LOCATION.sub("", line).strip() or line, FOREIGN_TEXT_LIMIT)


Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def _onnx_runner(model: LoadedModel, device: Device, threads: int | None) -> Run:
    """One session, run on each chunk of the batch it is handed."""
    import onnxruntime as ort

    session = create_onnx_session(model, device, threads)
    names = [output.name for output in session.get_outputs()]
    run_options = ort.RunOptions()
    run_options.log_severity_level = 4

    def run(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            values = session.run(names, arrays, run_options)
        except Exception as exc:
            raise InputResolutionError(
                f"{model.name} fails on the resolved inputs ({_shapes(arrays)}): "
                f"{first_line(exc)}; check --shape/--data against what the model expects"
            ) from exc
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}

    return run


def _torch_runner(model: LoadedModel, device: Device) -> Run:
    """The module on ``device``, run on each chunk of the batch it is handed."""
    import torch

    module = model.module.to(device)

    def run(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors = {name: torch.from_numpy(array).to(device) for name, array in arrays.items()}
        try:
            with torch.inference_mode():
                raw = module(**tensors)
        except Exception as exc:
            raise InputResolutionError(
                f"{model.name} fails on the resolved inputs ({_shapes(arrays)}): "
                f"{type(exc).__name__}: {first_line(exc)}; check --shape against what "
                "forward() expects"
            ) from exc
        return _name_outputs(model, raw)

    return run


def _name_outputs(model: LoadedModel, raw: Any) -> dict[str, np.ndarray]:
    if isinstance(raw, dict):
        items = list(raw.items())
    else:
        values = list(raw) if isinstance(raw, (tuple, list)) else [raw]
        declared = [spec.name for spec in model.outputs]
        if len(declared) != len(values):
            declared = (
                ["output"] if len(values) == 1 else [f"output_{i}" for i in range(len(values))]
            )
        items = list(zip(declared, values, strict=True))
    return {str(name): value.detach().cpu().numpy() for name, value in items}


def _check_finite(outputs: dict[str, np.ndarray]) -> None:
    for name, array in outputs.items():
        if array.dtype.kind not in "fc":
            continue
        nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        if nan or inf:
            raise ModelOutputError(
                f"output '{name}' holds {nan} NaN and {inf} infinite values on the fed inputs; "
                "the audit stops here (check the weights, or pass --data with realistic inputs)"
            )


def observe_outputs(outputs: dict[str, np.ndarray]) -> tuple[ObservedOutput, ...]:
    return tuple(
        ObservedOutput(
            name, str(array.dtype), tuple(int(d) for d in array.shape), *value_range(array)
        )
        for name, array in outputs.items()
    )


def _shapes(arrays: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {shape_text(tuple(a.shape))}" for name, a in arrays.items())
