"""Head importance: each head's map zeroed in turn on several samples, and the drop of the
explanations' target measured on the same output; or why it is not done.

    samples   the budget's ablation samples: the captured ones, else further samples from
              intake's one provider (the audit's own batch, then synthetic draws), so that
              a drop is a mean over several samples; "redundant" is claimed only from two
              or more (``MIN_REDUNDANCY_SAMPLES``), and the section says so otherwise
    target    the first output's kind and --target, read as the explanations stage reads
              them (explainers.methods.output_kinds): a class score, an embedding's norm
              or cosine, a map over its predicted region, a decoded sequence, a detection
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from harness.core.attention import Ablation
from harness.core.errors import UsageError
from harness.intake.samples import stage_samples
from harness.stages.attention.budget import AttentionBudget
from harness.stages.attention.feed import Captured, Feed, guarded
from harness.stages.context import AuditContext

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Ablator, Capture, Capturer
    from harness.explainers.methods.output_kinds import TargetChoice

__all__ = ["head_ablation"]


def head_ablation(
    context: AuditContext,
    budget: AttentionBudget,
    feed: Feed,
    capturer: Capturer,
    captured: Captured,
    maps: Sequence[np.ndarray | None],
    not_done: dict[str, str],
) -> Ablation | None:
    from harness.explainers.attention.ablation import MIN_REDUNDANCY_SAMPLES, head_importance

    capture = captured.capture
    why_not = _why_not_ablate(budget, capture, maps)
    choice = _target(context, feed, captured) if why_not is None else why_not
    if isinstance(choice, str):
        not_done["ablation"] = choice
        return None
    samples = _ablation_feed(context, budget, feed)
    ablator = _ablator(context, capturer, capture)
    heads = [int(m.shape[1]) for m in maps if m is not None]
    passes = [0]  # one pass with nothing ablated, then one per head

    def run(masks: Sequence[np.ndarray]) -> np.ndarray:
        context.progress.advance(
            2, f"ablating heads: pass {passes[0] + 1} of {sum(heads) + 1}, {samples.count} samples"
        )
        passes[0] += 1
        outputs = [
            choice.layout.batch_first(
                guarded("head ablation", partial(ablator.output, samples.chunk(i), masks))
            )
            for i in range(samples.chunks)
        ]
        return np.concatenate(outputs)

    original = choice.layout.batch_first(captured.first_output)
    score = partial(_score, choice)
    ablation = head_importance(
        run, original, heads, ablator.method, score, choice.description, choice.kind
    )
    if ablation.samples < MIN_REDUNDANCY_SAMPLES:
        not_done["redundant heads"] = (
            f"not claimed: heads were ablated on {ablation.samples} sample, and a head that "
            f"changes nothing there may matter on others ({MIN_REDUNDANCY_SAMPLES} or more "
            "are needed; pass --data with more samples)"
        )
    return ablation


def _why_not_ablate(
    budget: AttentionBudget, capture: Capture, maps: Sequence[np.ndarray | None]
) -> str | None:
    if any(m is None for m in maps):
        return "a layer's map could not be split per head"
    kinds = sorted({site.kind for site in capture.sites if not site.ablatable})
    if kinds:
        return (
            f"heads of {', '.join(kinds)} cannot be zeroed through hooks; audit the model's "
            "ONNX export to ablate them"
        )
    total = sum(int(m.shape[1]) for m in maps if m is not None)
    if total > budget.max_ablated_heads:
        return (
            f"{total} heads exceed the budget's {budget.max_ablated_heads}; "
            "use --budget thorough to ablate more"
        )
    return None


def _target(context: AuditContext, feed: Feed, captured: Captured) -> TargetChoice | str:
    """The explanations' target on the first output, or why there is none to ablate on."""
    from harness.explainers.methods.output_kinds import choose_target, made_by, recognise_output

    model = context.model
    name = model.outputs[0].name if model.outputs else ""
    output = np.asarray(captured.first_output)
    made = made_by(model.onnx_proto, name) if model.onnx_proto is not None and name else None
    attributed = _attributed(context, feed)
    recognition = recognise_output(output, feed.batch, attributed, name, made)
    if recognition.kind == "reconstruction" and not isinstance(context.config.target, str):
        return (
            f"the first output is a reconstruction ({recognition.why}): its error needs the "
            "input beside each output, and head ablation scores outputs alone"
        )
    try:
        samples = recognition.layout.batch_first(output)
        return choose_target(recognition, context.config.target, samples, name)
    except UsageError as exc:
        return f"no target to ablate on: {exc}"


def _attributed(context: AuditContext, feed: Feed) -> np.ndarray | None:
    """The input the explanations stage attributes (the task's primary input, else the
    first float input with features, else integer token ids), first batch."""
    arrays = feed.chunk(0)
    task = context.inputs.task
    if task is not None and task.primary_input in arrays:
        return arrays[task.primary_input]
    floats = [a for a in arrays.values() if a.dtype.kind == "f" and a.ndim >= 2]
    tokens = [a for a in arrays.values() if a.dtype.kind in "iu" and a.ndim == 2]
    chosen = floats or tokens
    return chosen[0] if chosen else None


def _score(choice: TargetChoice, output: np.ndarray, unablated: np.ndarray) -> np.ndarray:
    """Each sample's target score of ``output`` (batch first), compared with what
    ``unablated`` holds (the class, embedding, region or path)."""
    import torch

    from harness.explainers.methods.targets import kind_scores, reference_of

    with torch.no_grad():
        reference = reference_of(choice, torch.from_numpy(np.ascontiguousarray(unablated)))
        scores = kind_scores(choice, torch.from_numpy(np.ascontiguousarray(output)), reference)
    return scores.double().numpy()


def _ablation_feed(context: AuditContext, budget: AttentionBudget, feed: Feed) -> Feed:
    """The budget's ablation samples in whole batches: the captured ones when there are
    enough, else further samples from intake's provider (never fewer than captured)."""
    wanted = max(budget.ablation_samples // feed.batch, 1) * feed.batch
    if feed.count >= wanted:
        return replace(feed, count=wanted)
    batched = frozenset(
        name for name, a in feed.arrays.items() if a.ndim and a.shape[0] == feed.batch
    )
    if not batched:
        return feed
    extended = stage_samples(
        context.model, context.inputs, context.config.seed, wanted, batched=batched
    )
    count = extended.count // feed.batch * feed.batch
    if count <= feed.count:
        return feed
    return replace(feed, arrays=extended.arrays, count=count, truth=None, batched=batched)


def _ablator(context: AuditContext, capturer: Capturer, capture: Capture) -> Ablator:
    if context.model.format == "onnx":
        from harness.explainers.attention.capture_onnx import OnnxAblator, OnnxCapturer

        assert isinstance(capturer, OnnxCapturer)  # capturer_for's choice for an ONNX model
        proto = context.model.onnx_proto
        ranks = [m.ndim for m in capture.maps]
        cuda = context.device == "cuda"
        return OnnxAblator(proto, capturer.softmax_sites, ranks, context.config.threads, cuda)
    from harness.explainers.attention.capture_torch import TorchAblator

    return TorchAblator(context.model.module, capture.sites, context.device)
