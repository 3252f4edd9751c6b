"""The one way to open an onnxruntime session: the audit's stages, the twin, the attention
explainers and the model zoo's export check all call :func:`create_session`, so one set of
rules holds for every session the harness runs.

    threads    ``intra_op_threads=N`` (the audit's ``--threads N``): N threads inside each
               op, 1 inter-op thread and sequential execution, so N bounds the CPU cores a
               session uses (inter-op threads would add their own on top). None: onnxruntime's
               defaults (one intra-op thread per physical core).
    device     "cuda": CUDAExecutionProvider first, CPUExecutionProvider as the fallback for
               the ops CUDA lacks; "cpu": the CPU provider only. A provider this onnxruntime
               build lacks is dropped, and logged, before the session is created (onnxruntime
               would warn on stderr and fall back to the CPU itself).
    log        fatal only (severity 4) by default: callers map errors to the harness's own
               one-line messages, onnxruntime's own log lines would only repeat them.
    optimise   ``ORT_ENABLE_ALL`` (onnxruntime's default), named so that the efficiency
               stage can report the level its timings ran at.
    profile    ``profile_prefix`` set: onnxruntime's op profiler on, its trace written to
               ``<prefix>_<timestamp>.json`` (``session.end_profiling()`` names it).
    source     a path (external data resolves against the model's folder), the bytes of a
               serialized model without external data, or an ``onnx.ModelProto``
               (serialized in memory; one too large for a protobuf message goes through a
               temporary folder with its tensors as external data).

Errors are onnxruntime's own exceptions: each caller maps them to the harness's error tree
where it knows what failed (e.g. harness.runtime.forward).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

if TYPE_CHECKING:
    import onnx

__all__ = [
    "FATAL",
    "SessionDevice",
    "SessionSettings",
    "SessionSource",
    "create_session",
    "provider_names",
]

log = logging.getLogger(__name__)

SessionDevice = Literal["cpu", "cuda"]
SessionSource = Union[str, "os.PathLike[str]", bytes, "onnx.ModelProto"]

FATAL = 4  # onnxruntime's log severity: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
# Protobuf refuses messages of 2 GiB and more; this leaves headroom for the serializer.
_PROTO_LIMIT = 1_800_000_000
_DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class SessionSettings:
    """How a session runs; the defaults are onnxruntime's, with fatal-only logging."""

    device: SessionDevice = "cpu"
    intra_op_threads: int | None = None  # None: onnxruntime's default
    log_severity: int = FATAL
    graph_optimization: str = "ORT_ENABLE_ALL"  # a GraphOptimizationLevel name
    profile_prefix: str | None = None  # None: no profiling

    def __post_init__(self) -> None:
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {_DEVICES}, not {self.device!r}")

    @property
    def inter_op_threads(self) -> int | None:
        """1 whenever the intra-op threads are set (sequential execution), else the default."""
        return None if self.intra_op_threads is None else 1


def provider_names(device: SessionDevice) -> list[str]:
    """The execution providers a session on ``device`` asks for, in priority order."""
    if device == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def create_session(source: SessionSource, settings: SessionSettings | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` on ``source`` with ``settings`` (the module's
    rules); onnxruntime's exceptions propagate."""
    import onnxruntime as ort

    settings = settings or SessionSettings()
    options = _session_options(settings)
    providers = _available(provider_names(settings.device))
    if isinstance(source, bytes):
        return ort.InferenceSession(source, options, providers=providers)
    if isinstance(source, (str, os.PathLike)):
        return ort.InferenceSession(os.fspath(source), options, providers=providers)
    if source.ByteSize() < _PROTO_LIMIT:
        return ort.InferenceSession(source.SerializeToString(), options, providers=providers)
    return _session_through_file(source, options, providers)


def _session_options(settings: SessionSettings) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = settings.log_severity
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, settings.graph_optimization
    )
    if settings.intra_op_threads is not None:
        options.intra_op_num_threads = settings.intra_op_threads
        options.inter_op_num_threads = settings.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if settings.profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = settings.profile_prefix
    return options


def _available(requested: list[str]) -> list[str]:
    """``requested`` less the providers this onnxruntime build lacks (never the CPU's)."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    kept = [p for p in requested if p in available or p == "CPUExecutionProvider"]
    dropped = [p for p in requested if p not in kept]
    if dropped:
        log.warning(
            "onnxruntime here has no %s; the session runs on %s",
            ", ".join(dropped),
            ", ".join(kept),
        )
    return kept


def _session_through_file(model: onnx.ModelProto, options: Any, providers: list[str]) -> Any:
    """A session on a model too large to serialize in memory: saved with its tensors as
    external data; onnxruntime reads them at creation, so the folder can go afterwards."""
    import onnx
    import onnxruntime as ort

    # onnx.save moves the tensors' bytes out of the proto it is given: save a copy, the
    # caller's model stays whole.
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    with tempfile.TemporaryDirectory(prefix="harness-session-") as folder:
        path = Path(folder) / "model.onnx"
        onnx.save(copy, os.fspath(path), save_as_external_data=True, location="weights.bin")
        return ort.InferenceSession(os.fspath(path), options, providers=providers)
