"""What the explanations stage explains: the attributed input, the samples, and which
methods run (with the reason for every one that cannot). The budget is ``budget.py``.

    subject    the attributed input and its modality; the other inputs ride along: stacked
               with it only when they share its batch dim (its symbolic name, or both
               unnamed or fixed with the same size); state and scalar inputs never are, and
               one that carries the named batch on another axis (a recurrent state
               [layers, batch, hidden]) is repeated there to each call's rows
    samples    N samples from intake's one provider (``harness.intake.samples``): the first
               N of the audit's batch, or N task test samples, or N synthetic samples drawn
               with further seeds
    methods    --explainers, or the budget's default set for the modality
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.model import TensorSpec
from harness.explainers.methods.base import Explainer, Modality
from harness.explainers.methods.registry import default_methods, get_method
from harness.intake.inputs import looks_like_state
from harness.intake.samples import Samples, stage_samples
from harness.stages.context import AuditContext

# Samples is intake's (the one provider of samples); the stage's modules may name it here.
__all__ = [
    "PlannedMethod",
    "Samples",
    "Subject",
    "choose_subject",
    "gather_samples",
    "plan_methods",
    "spread_inputs",
]


@dataclass(frozen=True)
class Subject:
    """The input attributions refer to, how it is read, and the inputs around it."""

    attributed: str
    modality: Modality
    others: tuple[str, ...]  # further inputs with the sample axis: additional forward args
    # Inputs riding along unstacked that carry the batch on an axis: (name, axis). Each call
    # repeats their first entry there to its rows (every sample gets the audit's first
    # sample's state, as an exporter's zero initial state means).
    spread: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class PlannedMethod:
    name: str
    cls: type[Explainer]
    skip: str | None  # why it cannot run on this model, or None


def choose_subject(context: AuditContext) -> Subject | str:
    """The attributed input (the task's primary input, else the first float input of rank
    >= 2, else the first integer (batch, seq) input) or why there is none."""
    arrays = context.inputs.arrays
    specs = [s for s in context.model.inputs if s.name in arrays]
    task = context.inputs.task
    chosen = _primary(specs, arrays, task.primary_input if task is not None else None)
    if chosen is None:
        described = ", ".join(
            f"{s.name} {arrays[s.name].dtype} {arrays[s.name].shape}" for s in specs
        )
        return (
            f"no input to attribute: attributions need a float input with a batch axis and "
            f"features, or integer token ids (batch, seq); the inputs are {described}"
        )
    array = arrays[chosen.name]
    modality: Modality
    if array.dtype.kind in "iu":
        modality = "tokens"
    elif array.ndim == 4:
        modality = "image"
    else:
        modality = "vector"
    others, spread = _riders(chosen, [s for s in specs if s.name != chosen.name], arrays)
    return Subject(chosen.name, modality, others, spread)


def _riders(
    chosen: TensorSpec, specs: list[TensorSpec], arrays: dict[str, np.ndarray]
) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
    """The inputs stacked with ``chosen`` along axis 0, and those whose batch is on another
    axis (from the shared symbolic name only: an unnamed dim is no evidence)."""
    batch_dim = chosen.shape[0]
    others, spread = [], []
    for spec in specs:
        array = arrays[spec.name]
        if (
            array.ndim >= 1
            and not looks_like_state(spec.name)
            and _shares_batch(
                batch_dim, spec.shape[0], array.shape[0] == arrays[chosen.name].shape[0]
            )
        ):
            others.append(spec.name)
        elif isinstance(batch_dim, str) and batch_dim in spec.shape:
            spread.append((spec.name, spec.shape.index(batch_dim)))
    return tuple(others), tuple(spread)


def _shares_batch(batch_dim: object, dim: object, same_size: bool) -> bool:
    if isinstance(batch_dim, str) or isinstance(dim, str):
        return batch_dim == dim
    return same_size  # both unnamed, or fixed: the same size on axis 0


def spread_inputs(arrays: dict[str, Any], spread: tuple[tuple[str, int], ...], rows: int) -> None:
    """Repeat each spread input's first entry along its batch axis to ``rows``, in place
    (numpy arrays or torch tensors); one that already has ``rows`` entries is kept."""
    for name, axis in spread:
        value = arrays.get(name)
        if value is None or value.shape[axis] == rows:
            continue
        if isinstance(value, np.ndarray):
            arrays[name] = np.repeat(np.take(value, [0], axis=axis), rows, axis=axis)
        else:
            arrays[name] = value.narrow(axis, 0, 1).repeat_interleave(rows, dim=axis)


def _primary(
    specs: list[TensorSpec], arrays: dict[str, np.ndarray], named: str | None
) -> TensorSpec | None:
    def usable(spec: TensorSpec) -> bool:
        a = arrays[spec.name]
        return (a.dtype.kind == "f" and a.ndim >= 2) or (a.dtype.kind in "iu" and a.ndim == 2)

    candidates = [s for s in specs if usable(s)]
    if named is not None:
        for spec in candidates:
            if spec.name == named:
                return spec
    floats = [s for s in candidates if arrays[s.name].dtype.kind == "f"]
    tokens = [s for s in candidates if s.index_range is not None]
    for group in (floats, tokens, candidates):
        if group:
            return group[0]
    return None


def gather_samples(context: AuditContext, subject: Subject, count: int) -> Samples:
    """``count`` samples of the attributed input and those riding along with it (the rules
    are intake's: ``harness.intake.samples.stage_samples``)."""
    batched = frozenset({subject.attributed, *subject.others})
    return stage_samples(context.model, context.inputs, context.config.seed, count, batched=batched)


def plan_methods(
    names: tuple[str, ...],
    budget: str,
    modality: Modality,
    *,
    has_gradients: bool,
    no_gradients_reason: str,
    has_layer: bool,
) -> list[PlannedMethod]:
    """``names`` (or the budget's defaults) with each one's skip reason. Without gradients
    the defaults still list the gradient methods, skipped with ``no_gradients_reason``, so
    the result says what the model could not be given and why."""
    chosen = names or default_methods(budget, modality, has_gradients=True)
    planned = []
    for name in chosen:
        cls = get_method(name)
        reason = cls.skip_reason(modality)
        if reason is None and cls.needs_gradients and not has_gradients:
            reason = f"{name} needs gradients: {no_gradients_reason}"
        if reason is None:
            reason = cls.skip_reason(modality, has_layer=has_layer)
        planned.append(PlannedMethod(name, cls, reason))
    return planned
