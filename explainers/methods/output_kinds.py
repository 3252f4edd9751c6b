"""What a model's first output is, and so what an attribution or a head ablation measures.

"The predicted class (argmax)" means something only for class scores. This module reads
the first output's kind from its shape, its values and the ops that produce it, and
chooses the target that means something for that kind (``choose_target``); ``--target``
may name any form explicitly. The scores themselves are ``targets.py``'s.

    reconstruction  shaped like the float attributed input
                    -> its mean squared reconstruction error (``reconstruction``)
    scalar          one value per sample -> that value (``output``)
    detections      (rows, 6) per sample, [x1, y1, x2, y2, score, class] with scores in
                    [0, 1] and integer classes -> the top row's score (``detection``)
    dense map       the attributed image's spatial size (classes first or last), or one
                    row per token of token ids -> the map summed over the predicted
                    region (``region``)
    sequence        (time, classes) per sample, batch first or time-major (time, batch,
                    classes), as log-probabilities, probabilities, or logits named so or
                    made by a projection -> the greedy path's summed log-probability
                    (``sequence``)
    embedding       (width,) float, no softmax, made by pooling or normalising, named
                    like an embedding, or with unit-norm rows; token states named
                    hidden/embedding -> its L2 norm (``norm``), or its cosine with the
                    unperturbed embedding (``cosine``) when the norm is 1 everywhere
    classes         anything else, higher ranks flattened -> the predicted class
                    (``predicted``); ``--target K``: class K

Ambiguities are settled in that order. A time-major output is recognised when its first
axis is not the batch size and its second is; when time equals the batch size it is read
batch first. Everything here is numpy: the ONNX graph is read by ``made_by`` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import UsageError
from harness.core.targets import OutputKind, TargetKind

__all__ = [
    "Layout",
    "Recognition",
    "TargetChoice",
    "choose_target",
    "made_by",
    "recognise_output",
]

# Ops that produce an embedding: pooling over positions, or normalising.
POOLING_OPS = frozenset(
    {"ReduceMean", "ReduceSum", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool",
     "LpNormalization", "LpPool"}
)  # fmt: skip
# Ops that produce class scores.
CLASS_OPS = frozenset({"Softmax", "LogSoftmax", "Sigmoid", "Gemm", "MatMul", "Conv"})
# Ops walked through to reach the op that made the output (Div and Mul: their first
# operand, as a mean is a sum divided by a count and a norm divides).
_THROUGH_OPS = frozenset(
    {"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Div", "Mul", "Add",
     "Max", "Clip"}
)  # fmt: skip
_MAX_HOPS = 16
_EMBEDDING_NAME = re.compile(r"embed|pool|sentence|feature|vector|encod|hidden", re.IGNORECASE)
_TOKEN_STATES_NAME = re.compile(r"hidden|embed", re.IGNORECASE)
_CLASS_NAME = re.compile(r"logit|class|prob|score|label|pred", re.IGNORECASE)
_TOLERANCE = 1e-3  # rows summing (or normed) to 1 within this


@dataclass(frozen=True)
class Layout:
    """Where a sample's values lie in the output."""

    batch_axis: int  # 0, or 1 for a time-major (time, batch, classes) output
    sample_shape: tuple[int, ...]  # one sample's output, batch axis removed
    # Dense maps: the class axis within ``sample_shape`` (None: one map, no class axis).
    class_axis: int | None = None
    # Sequences: "log-probabilities", "probabilities" or "logits".
    scores: str = "logits"

    def batch_first(self, output: Any) -> Any:
        """(batch, *sample_shape) from the output as the runtime gave it, or as a forward
        flattened it to (rows, -1); a torch tensor or a numpy array."""
        if self.batch_axis == 0:
            return output.reshape(output.shape[0], *self.sample_shape)
        time, rest = self.sample_shape[0], self.sample_shape[1:]
        arranged = output.reshape(time, -1, *rest)
        if isinstance(arranged, np.ndarray):
            return np.moveaxis(arranged, 0, 1)
        return arranged.movedim(0, 1)


@dataclass(frozen=True)
class Recognition:
    kind: OutputKind
    layout: Layout
    why: str  # how it was recognised, in words


@dataclass(frozen=True)
class TargetChoice:
    """The target for one output: its kind, where its values lie, and in words."""

    kind: TargetKind
    output_kind: OutputKind
    layout: Layout
    description: str
    index: int | None = None  # --target K

    @property
    def needs_reference(self) -> bool:
        """The score compares with the unperturbed output (a cosine, a region, a path)."""
        return self.kind in ("cosine", "region", "sequence")


def recognise_output(
    output: np.ndarray,
    batch: int,
    attributed: np.ndarray | None,
    name: str,
    made: str | None = None,
) -> Recognition:
    """The kind of ``output`` (the first output, as the runtime gave it for ``batch``
    samples of ``attributed``), read from its shape, values, ``name`` and ``made``, the op
    that made it (``made_by``; None when unknown, as for a PyTorch module)."""
    output = np.asarray(output)
    batch_axis = _batch_axis(output, batch)
    layout = Layout(batch_axis, tuple(int(d) for d in np.delete(output.shape, batch_axis)))
    if output.ndim == 0 or output.shape[batch_axis] != batch:
        return Recognition("classes", Layout(0, (int(np.prod(output.shape[1:])),)), _NO_BATCH)
    samples = layout.batch_first(output)
    shape = layout.sample_shape
    for rule in (_reconstruction, _scalar, _detections, _dense_map, _sequence, _embedding):
        found = rule(samples, layout, attributed, name, made)
        if found is not None:
            return found
    return Recognition("classes", layout, "class scores: no other kind fits " + _shape(shape))


_NO_BATCH = "class scores: no axis of the output has the batch size, so it is read flattened"


def _batch_axis(output: np.ndarray, batch: int) -> int:
    if output.ndim == 3 and output.shape[0] != batch and output.shape[1] == batch:
        return 1
    return 0


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in ("batch", *shape)) + ")"


def _reconstruction(
    samples: np.ndarray, layout: Layout, x: np.ndarray | None, name: str, made: str | None
) -> Recognition | None:
    if x is None or x.dtype.kind != "f" or samples.shape != x.shape:
        return None
    if samples.ndim >= 3 and _normalised(samples, axis=1) == "probabilities":
        return None  # a per-pixel class distribution that happens to have the input's shape
    return Recognition("reconstruction", layout, "shaped like the attributed input")


def _scalar(
    samples: np.ndarray, layout: Layout, x: np.ndarray | None, name: str, made: str | None
) -> Recognition | None:
    if int(np.prod(layout.sample_shape)) != 1:
        return None
    return Recognition("scalar", layout, "one value per sample")


def _detections(
    samples: np.ndarray, layout: Layout, x: np.ndarray | None, name: str, made: str | None
) -> Recognition | None:
    shape = layout.sample_shape
    if len(shape) != 2 or shape[1] != 6 or layout.batch_axis != 0:
        return None
    score, label = samples[..., 4], samples[..., 5]
    scores_ok = bool(((score >= 0) & (score <= 1)).all())
    labels_ok = bool((label == np.round(label)).all() and (label >= -1).all())
    if not (scores_ok and labels_ok):
        return None
    why = f"rows of [x1, y1, x2, y2, score, class] {_shape(shape)}, scores in [0, 1]"
    return Recognition("detections", layout, why)


def _dense_map(
    samples: np.ndarray, layout: Layout, x: np.ndarray | None, name: str, made: str | None
) -> Recognition | None:
    shape = layout.sample_shape
    if x is None or layout.batch_axis != 0:
        return None
    if x.dtype.kind in "iu" and x.ndim == 2:  # token ids: one row of scores per token
        if len(shape) == 2 and shape[0] == x.shape[1] and not _TOKEN_STATES_NAME.search(name):
            why = f"one row of class scores per token {_shape(shape)}"
            return Recognition("dense map", Layout(0, shape, class_axis=1), why)
        return None
    if x.dtype.kind != "f" or x.ndim != 4:
        return None
    spatial = tuple(x.shape[2:]) if x.shape[1] <= 4 else tuple(x.shape[1:3])
    why = f"a map of the input's spatial size {spatial[0]}x{spatial[1]} {_shape(shape)}"
    if shape == spatial:
        return Recognition("dense map", Layout(0, shape, class_axis=None), why)
    if len(shape) == 3 and shape[1:] == spatial:
        axis = 0 if shape[0] > 1 else None
        return Recognition("dense map", Layout(0, shape, class_axis=axis), why)
    if len(shape) == 3 and shape[:2] == spatial:
        axis = 2 if shape[2] > 1 else None
        return Recognition("dense map", Layout(0, shape, class_axis=axis), why)
    return None


def _sequence(
    samples: np.ndarray, layout: Layout, x: np.ndarray | None, name: str, made: str | None
) -> Recognition | None:
    shape = layout.sample_shape
    if len(shape) != 2 or shape[0] < 2 or shape[1] < 2:
        return None
    scores = _normalised(samples, axis=-1)
    if _TOKEN_STATES_NAME.search(name):
        return None  # hidden states: an embedding per token
    if scores == "logits" and not (_CLASS_NAME.search(name) or made in CLASS_OPS):
        return None
    order = "time-major (time, batch, classes)" if layout.batch_axis else "(batch, time, classes)"
    why = f"a sequence of class scores over time, {order}, as {scores}"
    return Recognition("sequence", Layout(layout.batch_axis, shape, scores=scores), why)


def _embedding(
    samples: np.ndarray, layout: Layout, x: np.ndarray | None, name: str, made: str | None
) -> Recognition | None:
    shape = layout.sample_shape
    if samples.dtype.kind != "f" or layout.batch_axis != 0:
        return None
    if len(shape) == 2 and _TOKEN_STATES_NAME.search(name) and not _CLASS_NAME.search(name):
        return Recognition("embedding", layout, f"token states named '{name}' {_shape(shape)}")
    if len(shape) != 1 or _normalised(samples, axis=-1) != "logits":
        return None  # not a vector, or a softmax's (log-)probabilities: class scores
    if made in POOLING_OPS:
        why = f"a {_shape(shape)} float made by {made}, no softmax"
    elif _EMBEDDING_NAME.search(name) and not _CLASS_NAME.search(name):
        why = f"a {_shape(shape)} float named '{name}', no softmax"
    elif made not in CLASS_OPS and _unit_norm(samples):
        why = f"a {_shape(shape)} float with unit-norm rows, no softmax"
    else:
        return None
    return Recognition("embedding", layout, why)


def _normalised(samples: np.ndarray, axis: int) -> str:
    """How values along ``axis`` read: "probabilities" (non-negative, summing to 1),
    "log-probabilities" (their exponentials do) or "logits"."""
    values = samples.astype(np.float64)
    if (values >= 0).all() and np.allclose(values.sum(axis=axis), 1.0, atol=_TOLERANCE):
        return "probabilities"
    if (values <= 0).all() and np.allclose(np.exp(values).sum(axis=axis), 1.0, atol=_TOLERANCE):
        return "log-probabilities"
    return "logits"


def _unit_norm(samples: np.ndarray) -> bool:
    norms = np.linalg.norm(samples.reshape(samples.shape[0], -1).astype(np.float64), axis=1)
    return bool(np.allclose(norms, 1.0, atol=_TOLERANCE))


# --- the target ---------------------------------------------------------------------------

_DEFAULTS: dict[str, TargetKind] = {
    "classes": "predicted",
    "scalar": "output",
    "reconstruction": "reconstruction",
    "dense map": "region",
    "sequence": "sequence",
    "detections": "detection",
}
_DESCRIPTIONS: dict[str, str] = {
    "predicted": "the predicted class (argmax) per sample",
    "output": "the model's single output",
    "reconstruction": "the per-sample mean squared reconstruction error",
    "norm": "the embedding's L2 norm per sample",
    "cosine": "the cosine between the embedding and the unperturbed sample's embedding",
    "region": (
        "the map summed over the predicted region: the pixels (or tokens) of the class "
        "predicted over the largest area on the unperturbed sample, class 0 only when "
        "nothing else is predicted (a single map: where it exceeds 0.5 for probabilities, "
        "0 otherwise; all of it when that is empty)"
    ),
    "sequence": (
        "the summed log-probability of the decoded sequence: each step's most probable "
        "class on the unperturbed sample (the greedy CTC path)"
    ),
    "detection": "the top detection's score: the highest score of any row",
}


def choose_target(
    recognition: Recognition,
    requested: int | str | None,
    samples: np.ndarray,
    name: str,
) -> TargetChoice:
    """The target for the recognised output: ``requested`` (--target) when given, else the
    kind's default. ``samples`` is the unperturbed output batch-first; it tells whether an
    embedding is unit-norm (then cosine: its norm is constant). A form the output cannot
    take is a ``UsageError``."""
    kind, layout = recognition.kind, recognition.layout
    if isinstance(requested, int):
        return _class_index(recognition, requested, name)
    form: TargetKind
    if requested is not None:
        form = requested  # type: ignore[assignment]  # config checked it is a form
        _check_fits(form, recognition, name)
    elif kind == "embedding":
        form = "cosine" if _unit_norm(samples) else "norm"
    else:
        form = _DEFAULTS[kind]
    output = _label(name)
    description = f"{output}: {_DESCRIPTIONS[form]}"
    if kind not in ("classes", "scalar", "reconstruction") or requested is not None:
        description += f" ({output} read as {kind}: {recognition.why})"
    if form == "cosine" and requested is None:
        description += "; cosine, as its norm is 1 on every sample"
    if form == "predicted" and kind != "classes":
        layout = Layout(0, (int(np.prod(layout.sample_shape)),))
    return TargetChoice(form, kind, layout, description)


def _class_index(recognition: Recognition, index: int, name: str) -> TargetChoice:
    layout = recognition.layout
    if layout.batch_axis != 0:
        raise UsageError(
            f"--target {index} indexes a (batch, classes) output, but {_label(name)} is "
            f"{recognition.kind} ({recognition.why}); pass --target sequence, or no --target"
        )
    width = int(np.prod(layout.sample_shape))
    return TargetChoice(
        "class",
        recognition.kind,
        Layout(0, (width,)),
        f"{_label(name)}: class {index} for every sample",
        index=index,
    )


def _label(name: str) -> str:
    return f"output '{name}'" if name else "the first output"


def _check_fits(form: TargetKind, recognition: Recognition, name: str) -> None:
    shape = recognition.layout.sample_shape
    needs = {
        "region": (recognition.kind == "dense map", "a dense map (the input's spatial size)"),
        "sequence": (len(shape) == 2, "a sequence of class scores (time, classes) per sample"),
        "detection": (
            len(shape) == 2 and shape[1] >= 5,
            "detection rows (rows, 6) per sample, the score in column 4",
        ),
    }
    fits, what = needs.get(form, (recognition.layout.batch_axis == 0 or form != "predicted", ""))
    if form == "predicted" and not fits:
        what = "a (batch, classes) output"
    if not fits:
        raise UsageError(
            f"--target {form} needs {what}; {_label(name)} is {_shape(shape)} per sample, "
            f"read as {recognition.kind} ({recognition.why}); pass another --target or none"
        )


def made_by(model: Any, name: str) -> str | None:
    """The op type that made ``name`` in an ONNX model: reached from it through reshapes,
    casts, bias additions, divisions and multiplications (their first computed operand),
    as a mean is a sum divided by a count and a normalised vector a division by its norm.
    None for a graph input or constant."""
    from harness.core.onnx_graph import constant_names, producers

    writers = producers(model.graph)
    constants = constant_names(model.graph)
    node = writers.get(name)
    for _ in range(_MAX_HOPS):
        if node is None or node.op_type not in _THROUGH_OPS:
            break
        operand = next((i for i in node.input if i and i not in constants), None)
        node = writers.get(operand) if operand else None
    return node.op_type if node is not None else None
