"""What every capture backend hands back: the attention sites it found and their maps.

A *site* is one place attention is computed: an ONNX ``Softmax`` node, or a hooked
module. Maps are (batch, heads, query, key) float arrays; a site whose softmax runs on
(batch*heads, query, key) is split with the fed batch size (batch-major, as PyTorch's
``nn.MultiheadAttention`` and its exports lay it out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness.core.attention import SiteCandidate

__all__ = ["Ablator", "Capture", "Capturer", "Site", "first_dim", "split_heads"]


@dataclass(frozen=True)
class Site:
    name: str  # ONNX node name, or the module's qualified name
    kind: str  # "onnx softmax", "softmax module", "nn.MultiheadAttention", "attention output"
    ablatable: bool  # a head of it can be zeroed by this backend


@dataclass(frozen=True, eq=False)
class Capture:
    """One run: each site's map as the runtime produced it (see ``split_heads``), the first
    model output, and optionally each site's queries and transposed keys."""

    sites: tuple[Site, ...]
    maps: tuple[
        np.ndarray, ...
    ]  # per site, as produced: (batch, heads, q, k) or (batch*heads, q, k)
    output: np.ndarray  # the model's first output
    # Per site the scores' operands, queries (.., q, d) and transposed keys (.., d, k), laid
    # out like the map; None where they were not captured.
    qk: tuple[tuple[np.ndarray, np.ndarray] | None, ...]


class Capturer(Protocol):
    """A backend's capture: fixed model, one ``run`` per batch of inputs."""

    method: str
    backend: str
    fused_ops: tuple[str, ...]
    candidates: tuple[SiteCandidate, ...]  # every softmax examined, found or rejected, and why

    def run(self, arrays: dict[str, np.ndarray], with_qk: bool = False) -> Capture: ...


class Ablator(Protocol):
    """Runs the model with some heads zeroed: ``masks[i]`` is site i's per-head 0/1 vector."""

    method: str

    def output(self, arrays: dict[str, np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray: ...


def first_dim(arrays: dict[str, np.ndarray]) -> int:
    """The fed batch size: axis 0 of the first input that has one (1 for scalars only)."""
    for array in arrays.values():
        if array.ndim:
            return int(array.shape[0])
    return 1


def split_heads(array: np.ndarray, batch: int) -> np.ndarray | None:
    """(batch, heads, q, k) from a 4-D map as is, or from (batch*heads, q, k); None when the
    shape allows neither."""
    if array.ndim == 4 and array.shape[0] == batch:
        return array
    if array.ndim == 3 and batch > 0 and array.shape[0] % batch == 0:
        return array.reshape(batch, array.shape[0] // batch, *array.shape[1:])
    return None
