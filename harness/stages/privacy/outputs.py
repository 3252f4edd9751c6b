"""The model's class probabilities for every attacked record.

Records are fed through the audit's one checked forward pass (``run_forward``: chunked,
every output finite). The first output shaped (records, classes) with at least two classes
is read as class scores: as probabilities when every row already is one (non-negative,
summing to 1), else as logits through a softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.errors import DataError
from harness.runtime.forward import run_forward
from harness.stages.context import AuditContext

__all__ = ["ClassScores", "check_labels", "class_probabilities"]

_PROBABILITY_TOLERANCE = 1e-3  # |row sum - 1| allowed for an output read as probabilities


@dataclass(frozen=True, eq=False)
class ClassScores:
    output: str  # which output, and how it was read, in words
    # (N, classes) float64 log-probabilities: from logits by a log-softmax, so a saturated
    # member keeps its margin instead of rounding to p = 1.
    members: np.ndarray
    nonmembers: np.ndarray


def class_probabilities(
    context: AuditContext, members: dict[str, np.ndarray], nonmembers: dict[str, np.ndarray]
) -> ClassScores | str:
    """The class probabilities of both sides, or why the outputs are not class scores."""
    member_outputs = _forward(context, members)
    nonmember_outputs = _forward(context, nonmembers)
    count = len(next(iter(members.values())))
    name = next(
        (
            n
            for n, a in member_outputs.items()
            if a.ndim == 2 and a.shape[0] == count and a.shape[1] >= 2
        ),
        None,
    )
    if name is None:
        shapes = ", ".join(f"'{n}' {a.shape}" for n, a in member_outputs.items())
        return (
            f"no output is class scores shaped (records, classes) ({shapes}); these attacks "
            "read a classifier's scores"
        )
    raw_members, raw_nonmembers = member_outputs[name], nonmember_outputs[name]
    if _are_probabilities(raw_members) and _are_probabilities(raw_nonmembers):
        how = f"output '{name}' ({raw_members.shape[1]} classes), read as probabilities"
        return ClassScores(how, _log_normalised(raw_members), _log_normalised(raw_nonmembers))
    how = f"output '{name}' ({raw_members.shape[1]} classes), logits through a softmax"
    return ClassScores(how, _log_softmax(raw_members), _log_softmax(raw_nonmembers))


def check_labels(labels: np.ndarray | None, classes: int, flag: str) -> None:
    """Labels must index the model's classes: a label past them is bad input (exit 2)."""
    if labels is not None and labels.size and int(labels.max()) >= classes:
        raise DataError(
            f"{flag} labels reach {int(labels.max())}, but the model scores {classes} classes "
            f"(0..{classes - 1}); pass the class indices the model was trained with"
        )


def _forward(context: AuditContext, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # A model that fails on the given records, or answers NaN, is the input's fault as with
    # --data: the harness's own error (exit 2, nothing written), not a failed section.
    size = _fixed_batch(context)
    if size is None:
        return run_forward(context.model, arrays, context.device, context.config.threads)
    return _in_fixed_batches(context, arrays, size)


def _fixed_batch(context: AuditContext) -> int | None:
    """The batch size every input fixes on axis 0 (a model exported for batches of 1, say),
    or None when the batch is free."""
    sizes = {spec.shape[0] for spec in context.model.inputs if spec.rank >= 1}
    if len(sizes) == 1:
        (size,) = sizes
        if isinstance(size, int) and size > 0:
            return size
    return None


def _in_fixed_batches(
    context: AuditContext, arrays: dict[str, np.ndarray], size: int
) -> dict[str, np.ndarray]:
    """The records fed SIZE at a time; the last batch is filled up with its own first
    record repeated, and those rows' outputs are dropped (each record's output is its own)."""
    count = len(next(iter(arrays.values())))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, count, size):
        rows = np.arange(start, start + size)
        rows[rows >= count] = start  # past the end: the batch's first record again
        batch = {name: array[rows] for name, array in arrays.items()}
        outputs = run_forward(context.model, batch, context.device, context.config.threads)
        kept = min(size, count - start)
        parts.append({name: value[:kept] for name, value in outputs.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _are_probabilities(values: np.ndarray) -> bool:
    sums = values.sum(axis=1, dtype=np.float64)
    return bool((values >= 0).all() and np.abs(sums - 1).max() <= _PROBABILITY_TOLERANCE)


def _log_normalised(probabilities: np.ndarray) -> np.ndarray:
    values = probabilities.astype(np.float64)
    values /= values.sum(axis=1, keepdims=True)
    return np.log(np.clip(values, 1e-300, 1.0))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax, exact for a saturated row: log p_i = (z_i - m) - log1p(rest), m the row's
    largest logit and rest = sum over the other classes of exp(z_j - m). Written as
    ``- log(sum exp)``, a margin over ~37 rounds the top class's log p to exactly 0 and every
    confident record ties; with log1p it stays -exp(-margin), so members still outrank."""
    values = logits.astype(np.float64)
    top = values.argmax(axis=1)
    rows = np.arange(len(values))
    shifted = values - values[rows, top][:, None]
    exp = np.exp(shifted)
    exp[rows, top] = 0.0
    return shifted - np.log1p(exp.sum(axis=1, keepdims=True))
