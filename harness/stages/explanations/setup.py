"""What every method of one audit shares: the backends, the samples as tensors, the target,
the baseline, the batching, and what the metrics score against.

    target     by the kind of the first output (explainers.methods.output_kinds): a
               reconstruction's per-sample error, a single output as it is, the predicted
               class, an embedding's norm (or cosine), a dense map summed over the
               predicted region, a sequence's greedy-path log-probability, the top
               detection's score; or --target K or a named form. A target that compares
               with the unperturbed output rides along as the forward's last argument
    baseline   the modality's default (explainers.methods.baselines); for token ids the pad
               token, read as the id the attention mask hides most often
    features   what metrics rank and remove: superpixel blocks on images; each real token,
               with the padding as one feature, on padded token ids
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

import numpy as np
import torch

from harness.explainers.methods.baselines import Baseline, make_baseline
from harness.explainers.methods.batching import BatchPlan, choose_batch
from harness.explainers.methods.feature_masks import default_feature_mask
from harness.explainers.methods.output_kinds import (
    Recognition,
    TargetChoice,
    choose_target,
    made_by,
    recognise_output,
)
from harness.explainers.methods.registry import get_method
from harness.explainers.methods.targets import (
    KindScore,
    Target,
    fixed_class,
    kind_target,
    predicted_class,
    reconstruction_error,
    reference_of,
    scalar_output,
)
from harness.intake.samples import Samples
from harness.stages.context import AuditContext
from harness.stages.explanations.backends import Backend, Backends, build_backends
from harness.stages.explanations.budget import ExplanationsBudget
from harness.stages.explanations.plan import Subject
from harness.stages.explanations.scoring import Scoring
from harness.stages.explanations.timing import (
    FLOPS_PER_SECOND,
    SAMPLE_SHARE,
    Clock,
    fitting_samples,
    forward_flops,
    guarded,
)

__all__ = ["Kind", "Setup", "Wrap", "prepare"]

Wrap = Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]
Kind = Literal[
    "classification", "regression", "reconstruction", "embedding", "dense map", "sequence",
    "detections",
]  # fmt: skip
# The kind of model each target kind is read as (scoring: softmax only for classification).
_KINDS: dict[str, Kind] = {
    "predicted": "classification", "class": "classification", "output": "regression",
    "reconstruction": "reconstruction", "norm": "embedding", "cosine": "embedding",
    "region": "dense map", "sequence": "sequence", "detection": "detections",
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Setup:
    context: AuditContext
    budget: ExplanationsBudget
    subject: Subject
    samples: Samples
    backends: Backends
    target: Target  # on the reference backend
    wrap: Wrap  # puts the target on another backend's forward
    kind: Kind
    choice: TargetChoice  # the target's kind, the output's, and where its values lie
    baseline: Baseline
    batch: BatchPlan
    scoring: Scoring
    # FLOPs of one forward row as torch counts them (0: not counted): the plan's unit of
    # work (timing.row_seconds, scorecard_plan.py).
    row_flops: int = 0

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        return (self.scoring.x, *self.scoring.others)

    @property
    def clock(self) -> Clock:
        return self.scoring.clock

    def targets(self) -> list[int]:
        """The attributed output index of each sample."""
        target = self.target.target
        if isinstance(target, torch.Tensor):
            return [int(t) for t in target.reshape(-1).tolist()]
        return [int(target or 0)] * int(self.scoring.x.shape[0])

    def batching_record(self) -> dict[str, int]:
        x = self.scoring.x
        return {
            "internal_batch_size": self.batch.internal_batch_size,
            "perturbations_per_eval": self.batch.perturbations_per_eval,
            "memory_budget_bytes": self.budget.memory_budget_bytes,
            "model_parameter_bytes": self.context.summary.parameter_bytes,
            "input_bytes_per_sample": x[0].numel() * x.element_size(),
            "samples_per_call": int(x.shape[0]),
        }


def prepare(
    context: AuditContext,
    budget: ExplanationsBudget,
    subject: Subject,
    samples: Samples,
    clock: Clock,
) -> Setup:
    chosen = context.config.explainers
    gradients = not chosen or any(get_method(name).needs_gradients for name in chosen)
    backends = build_backends(context, subject, samples, gradients=gradients)
    row_flops = _row_flops(backends, subject, samples)
    if context.config.samples is None:
        samples = _samples_that_fit(samples, budget, row_flops)
    x = _tensor(samples, subject.attributed)
    others = tuple(_tensor(samples, n) for n in subject.others)
    target, wrap, choice, reference = _target(context, subject, backends.reference, x, others)
    kind = _KINDS[choice.kind]
    if reference is not None:  # the last forward argument, expanded with the samples
        others = (*others, reference)
    baseline = make_baseline(subject.modality, x, pad_token_id=_pad_token(subject, samples))
    valid = _valid_tokens(subject, samples)
    batch = _batch(context, budget, subject, samples)
    scoring = Scoring(
        forward=guarded(target.forward, clock),
        x=x,
        others=others,
        target=target.target if target.target is not None else 0,
        baseline=baseline.tensor,
        modality=subject.modality,
        classification=kind == "classification",
        feature_mask=_metric_features(subject, x, valid),
        truth=samples.truth,
        valid=valid,
        budget=budget,
        seed=context.config.seed,
        clock=clock,
    )
    return Setup(
        context,
        budget,
        subject,
        samples,
        backends,
        target,
        wrap,
        kind,
        choice,
        baseline,
        batch,
        scoring,
        row_flops,
    )


def _batch(
    context: AuditContext, budget: ExplanationsBudget, subject: Subject, samples: Samples
) -> BatchPlan:
    return choose_batch(
        context.summary.parameter_bytes,
        max(1, samples.arrays[subject.attributed][0].nbytes),
        budget.memory_budget_bytes,
        samples_per_call=samples.count,
    )


def _tensor(samples: Samples, name: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(samples.arrays[name]))


def _row_flops(backends: Backends, subject: Subject, samples: Samples) -> int:
    """FLOPs of one forward of one sample, as torch counts them (0: not counted)."""
    backend = backends.gradients or backends.reference
    first = tuple(_tensor(samples, n)[:1] for n in (subject.attributed, *subject.others))
    return forward_flops(backend.forward, first)


def _samples_that_fit(samples: Samples, budget: ExplanationsBudget, flops: int) -> Samples:
    """Fewer samples when one forward is large (see timing.py): planned from the FLOPs
    torch counts for one sample, never from a timing, so the same model, seed and budget
    always explain the same samples."""
    if flops <= 0:
        return samples
    # An integrated-gradients sample: n_steps forward+backward passes (about 3 forwards).
    per_sample = 3 * flops * budget.n_steps
    count = fitting_samples(samples.count, per_sample, budget.seconds * FLOPS_PER_SECOND)
    why = (
        f"{count} of {samples.count} samples explained: a {budget.n_steps}-step attribution "
        f"is about {per_sample:.3g} FLOPs a sample (one forward {flops:.3g} FLOPs), and the "
        f"plan gives the samples {SAMPLE_SHARE:g} of the budget's work "
        f"({budget.seconds:g} s at a nominal {FLOPS_PER_SECOND:.3g} FLOP/s; "
        "pass --samples N to choose)"
    )
    return samples.first(count, why)


def _target(
    context: AuditContext,
    subject: Subject,
    reference: Backend,
    x: torch.Tensor,
    others: tuple[torch.Tensor, ...],
) -> tuple[Target, Wrap, TargetChoice, torch.Tensor | None]:
    """(the target on the reference forward, how to put it on another forward, the choice,
    and what the score compares with on these samples, if anything)."""
    recognition, name = _recognise(context, subject)
    requested = context.config.target
    if recognition.kind == "reconstruction" and not isinstance(requested, str):
        # --target K has no class to pick in a reconstruction: the stage notes it is ignored.
        label = f"output '{name}'" if name else "the first output"
        target = _described(reconstruction_error(reference.forward), label)
        choice = TargetChoice("reconstruction", "reconstruction", recognition.layout, "")
        return target, _reconstruction, replace(choice, description=target.description), None
    with torch.no_grad():
        unperturbed = recognition.layout.batch_first(reference.forward(x, *others))
    choice = choose_target(recognition, requested, unperturbed.numpy(), name)
    inputs = (x, *others)
    if choice.kind == "class":
        target = fixed_class(reference.forward, inputs, choice.index or 0)
    elif choice.kind == "predicted":
        target = predicted_class(reference.forward, inputs)
    elif choice.kind == "output":
        target = scalar_output(reference.forward, inputs)
    else:
        target = kind_target(reference.forward, choice)
        return target, partial(KindScore, choice=choice), choice, reference_of(choice, unperturbed)
    return replace(target, description=choice.description), _unchanged, choice, None


def _recognise(context: AuditContext, subject: Subject) -> tuple[Recognition, str]:
    """The first output's kind, from one forward pass on the audit's own inputs (the
    output as the runtime gives it: the explained forwards flatten it), and its name."""
    from harness.runtime.forward import run_forward

    model, arrays = context.model, context.inputs.arrays
    outputs = run_forward(model, arrays, context.device, context.config.threads)
    output = next(iter(outputs.values()))
    name = model.outputs[0].name if model.outputs else ""
    attributed = arrays[subject.attributed]
    made = made_by(model.onnx_proto, name) if model.onnx_proto is not None and name else None
    batch = int(attributed.shape[0]) if attributed.ndim else 1
    return recognise_output(output, batch, attributed, name, made), name


def _reconstruction(forward: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    return reconstruction_error(forward).forward  # an nn.Module: hookable


def _unchanged(forward: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    return forward


def _described(target: Target, output: str) -> Target:
    return replace(target, description=f"{output}: {target.description}")


def _mask_input(subject: Subject, samples: Samples) -> np.ndarray | None:
    """The attention mask beside token ids: an input named *mask* of the ids' shape."""
    ids = samples.arrays[subject.attributed]
    for name in subject.others:
        array = samples.arrays[name]
        if "mask" in name.lower() and array.shape == ids.shape:
            return array
    return None


def _pad_token(subject: Subject, samples: Samples) -> int | None:
    """The id the attention mask hides most often (the pad token), or None."""
    if subject.modality != "tokens":
        return None
    mask = _mask_input(subject, samples)
    if mask is None:
        return None
    hidden = samples.arrays[subject.attributed][mask == 0]
    if hidden.size == 0:
        return None
    values, counts = np.unique(hidden, return_counts=True)
    return int(values[counts.argmax()])


def _valid_tokens(subject: Subject, samples: Samples) -> np.ndarray | None:
    if subject.modality != "tokens":
        return None
    mask = _mask_input(subject, samples)
    return None if mask is None else mask != 0


def _metric_features(
    subject: Subject, x: torch.Tensor, valid: np.ndarray | None
) -> torch.Tensor | None:
    """Superpixel blocks on images (the perturbation methods' own); on padded token ids each
    real token, and the padding as one feature, so rank correlations are not made of the
    padding's tied zeros."""
    if subject.modality == "image":
        return default_feature_mask("image", x)
    if valid is None:
        return None
    positions = np.arange(1, valid.shape[1] + 1)[None, :]
    return torch.from_numpy(np.where(valid, positions, 0).astype(np.int64))
