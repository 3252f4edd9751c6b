"""The loaded-model handle every stage receives, and the tensor specs it is described by."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["MAX_RANK", "Dim", "LoadedModel", "TensorSpec", "is_batch_dim", "shape_text"]

# A dimension: a fixed size, a symbolic name (dynamic, named in the graph), or None
# (dynamic and unnamed).
Dim = int | str | None

ModelFormat = Literal["onnx", "pytorch"]

# Dim names that mean "the batch": input resolution sizes them 1 by default, and the forward
# pass may split a large batch along them (every sample computed on its own).
_BATCH_DIM_NAMES = re.compile(r"^(batch|batch_?size|n|b|bs|num_?samples)$", re.IGNORECASE)

# The most dims a tensor the harness feeds or reads may have: numpy's limit (NPY_MAXDIMS),
# so a rank-65 input is refused with a message instead of failing inside numpy.
MAX_RANK = 64


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the model declares it."""

    name: str
    dtype: str  # numpy dtype name: "float32", "int64", "bool", ...
    shape: tuple[Dim, ...]
    # For integer inputs that index a table (token ids into an embedding): values must lie
    # in [0, index_range). Read from the graph; None when the input indexes nothing.
    index_range: int | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    def shape_text(self) -> str:
        return shape_text(self.shape)


@dataclass(frozen=True)
class LoadedModel:
    """A model the harness can run: an ONNX graph, or a PyTorch module.

    ``onnx_proto`` is an ``onnx.ModelProto`` (with external data loaded) and ``module`` a
    ``torch.nn.Module`` in eval mode; they are typed ``Any`` so that this leaf module
    imports neither library.
    """

    source: str  # what the user passed: a path, "ref:cnn", "pkg.mod:factory"
    name: str  # short name, used for the default output folder
    format: ModelFormat
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    path: Path | None = None  # the .onnx file, when there is one
    # The reference task the model was trained on (ONNX metadata ``harness.task``, or a
    # ref: model's registry entry); the audit then feeds that task's real test samples.
    task: str | None = None
    onnx_proto: Any = field(default=None, repr=False, compare=False)
    module: Any = field(default=None, repr=False, compare=False)

    def input(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)


def is_batch_dim(dim: Dim) -> bool:
    """Whether ``dim`` is a symbolic dim named as the batch: batch, batch_size, N, ..."""
    return isinstance(dim, str) and _BATCH_DIM_NAMES.match(dim) is not None


def shape_text(shape: tuple[Dim, ...]) -> str:
    """``1x3x224x224``, with symbolic dims by name, unknown ones as ``?``, rank 0 as ``scalar``."""
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"
