"""The ONNX-to-PyTorch twin's record: how the conversion went, and how closely it matches.

A twin is used for gradients only after its outputs match onnxruntime's; this record says
whether they did, by how much, at which input sizes and with which tolerance, and which
preparation steps and added converters it took. An unconvertible model names the ops and
the first node that blocked it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ConversionReport", "OutputParity", "ParityCheck", "PreparationStep"]


@dataclass(frozen=True)
class PreparationStep:
    name: str  # "lift_constants", "value_info", "fold_constants", ...
    detail: str  # what it did, in words
    changed: int  # nodes or tensors it changed (0: nothing to do)


@dataclass(frozen=True)
class OutputParity:
    name: str
    max_abs: float
    max_rel: float  # max |a - b| / max(|b|, atol)
    ok: bool


@dataclass(frozen=True)
class ParityCheck:
    """The twin against onnxruntime on one set of inputs."""

    input_shapes: dict[str, tuple[int, ...]]
    outputs: tuple[OutputParity, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)


@dataclass(frozen=True)
class ConversionReport:
    status: Literal["converted", "unconvertible", "mismatch", "skipped"]
    # Why there is no twin; on a converted one, the sizes that could not be checked (a
    # second size onnxruntime or the twin cannot run) and why, else None.
    reason: str | None
    # Judged elementwise: |twin - onnxruntime| <= atol + rtol * |onnxruntime|.
    rtol: float
    atol: float
    blocking_ops: tuple[str, ...] = ()  # op types (domain.op, version) the converter lacks
    first_blocking_node: str | None = None
    steps: tuple[PreparationStep, ...] = ()
    parity: tuple[ParityCheck, ...] = ()  # one per input size checked, the audit's first
    custom_converters: tuple[str, ...] = ()  # harness converters the graph used: "Gelu-20"
