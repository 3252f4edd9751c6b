"""The ``attention`` stage: capture every layer's maps, verify them, analyse them.

    samples    the model's task samples (up to the budget's count, fed in batches of the
               audit's batch size), or else the audit's own inputs
    capture    onnxruntime with promoted Softmax outputs (every Softmax examined, found or
               rejected with its reason: ``candidates``), or PyTorch forward hooks
    verify     per layer: shape, rows summing to 1, padding, softmax(QK^T) recomputed on
               the first batch
    analyse    per head: entropy, distance, first-token and self share, ground-truth AUROC;
               rollout; ground truth per layer
    ablate     head importance on the budget's ablation samples, when every head can be
               zeroed, on the explanations' target for the first output's kind
    display    maps of the first samples (those with relevant tokens, when the task marks
               them), cut to the display limit

No attention found is ``skipped`` (naming any fused attention op, or how many softmaxes
were rejected), not an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.core.attention import AttentionSection, Rollout
from harness.stages.attention.ablation import head_ablation
from harness.stages.attention.analysis import (
    CapturedSamples,
    analyse_layers,
    find_padding_input,
    ground_truth,
    rollout_layers,
    sequence_tokens,
)
from harness.stages.attention.budget import BUDGETS, AttentionBudget
from harness.stages.attention.display import shown_maps
from harness.stages.attention.feed import Captured, Feed, capture_maps, capturer_for, feed_for
from harness.stages.context import AuditContext

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Capturer

__all__ = ["attention_stage"]


def attention_stage(context: AuditContext) -> AttentionSection:
    budget = BUDGETS[context.config.budget]
    feed = feed_for(context, budget)
    capturer = capturer_for(context, feed)
    not_done: dict[str, str] = {}
    context.progress.plan(
        3, "step", f"{feed.count} samples on {capturer.backend}, batch {feed.batch}"
    )
    context.progress.advance(0, "capturing attention maps")
    captured = capture_maps(capturer, feed, not_done)
    capture = captured.capture
    if not capture.sites:
        reason = "no attention found"
        if capturer.fused_ops:
            reason = f"fused attention ({', '.join(capturer.fused_ops)})"
        elif capturer.candidates:
            count = len(capturer.candidates)
            reason += f" ({count} Softmax node{'s' * (count > 1)} rejected: see candidates)"
        return AttentionSection(
            status="skipped",
            reason=reason,
            budget=context.config.budget,
            backend=capturer.backend,  # type: ignore[arg-type]
            fused_ops=capturer.fused_ops,
            candidates=capturer.candidates,
        )
    if capturer.fused_ops:
        not_done["fused attention"] = (
            f"{', '.join(capturer.fused_ops)} also compute attention; their maps are not captured"
        )
    context.progress.advance(1, f"verifying and reading {len(capture.sites)} attention layers")
    return _analyse(context, budget, capturer, feed, captured, not_done)


def _analyse(
    context: AuditContext,
    budget: AttentionBudget,
    capturer: Capturer,
    feed: Feed,
    captured: Captured,
    not_done: dict[str, str],
) -> AttentionSection:
    from harness.explainers.attention.analysis import ROLLOUT_QUERY, ROLLOUT_VARIANT
    from harness.explainers.attention.sites import split_heads

    capture, count = captured.capture, captured.count
    padding_input = find_padding_input(feed, count)
    samples = CapturedSamples(
        count=count,
        padding=feed.arrays[padding_input][:count] != 0 if padding_input else None,
        truth=feed.truth[:count].astype(bool) if feed.truth is not None else None,
    )
    maps = [split_heads(raw, count) for raw in capture.maps]
    layers, received = analyse_layers(capture, maps, samples)
    square, tokens = rollout_layers(maps, samples, not_done)
    return AttentionSection(
        status="ok",
        budget=context.config.budget,
        backend=capturer.backend,  # type: ignore[arg-type]
        method=f"{capturer.method}; Q K^T recomputed on the first batch where captured",
        samples=count,
        sequence_tokens=sequence_tokens(feed),
        padding_input=padding_input,
        layers=layers,
        fused_ops=capturer.fused_ops,
        rollout=Rollout(ROLLOUT_VARIANT, ROLLOUT_QUERY, square) if square else None,
        ground_truth=ground_truth(feed, samples, received, square, tokens, not_done),
        ablation=head_ablation(context, budget, feed, capturer, captured, maps, not_done),
        display=shown_maps(feed, samples, maps, tokens),
        not_done=not_done,
        candidates=capturer.candidates,
    )
