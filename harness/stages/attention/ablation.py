"""Head importance: each head's map zeroed in turn on the budget's first samples, and the
drop of the predicted-class score measured; or why it is not done."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from harness.core.attention import Ablation
from harness.stages.attention.budget import AttentionBudget
from harness.stages.attention.feed import Feed, guarded
from harness.stages.context import AuditContext

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Ablator, Capture

__all__ = ["head_ablation"]


def head_ablation(
    context: AuditContext,
    budget: AttentionBudget,
    feed: Feed,
    capture: Capture,
    maps: Sequence[np.ndarray | None],
    not_done: dict[str, str],
) -> Ablation | None:
    from harness.explainers.attention.ablation import head_importance

    why_not = _why_not_ablate(budget, capture, maps)
    if why_not is not None:
        not_done["ablation"] = why_not
        return None
    chunks = max(
        1, min(budget.ablation_samples // feed.batch, capture.output.shape[0] // feed.batch)
    )
    ablator = _ablator(context, capture)
    heads = [int(m.shape[1]) for m in maps if m is not None]

    def run(masks: Sequence[np.ndarray]) -> np.ndarray:
        outputs = [
            guarded("head ablation", partial(ablator.output, feed.chunk(i), masks))
            for i in range(chunks)
        ]
        return np.concatenate(outputs)

    original = capture.output[: chunks * feed.batch]
    output_name = context.summary.outputs[0].name if context.summary.outputs else "output"
    return head_importance(run, original, heads, ablator.method, output_name)


def _why_not_ablate(
    budget: AttentionBudget, capture: Capture, maps: Sequence[np.ndarray | None]
) -> str | None:
    if capture.output.ndim != 2:
        return (
            f"the first output is {capture.output.ndim}-D, not (batch, classes): there is no "
            "predicted-class score to measure"
        )
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


def _ablator(context: AuditContext, capture: Capture) -> Ablator:
    if context.model.format == "onnx":
        from harness.explainers.attention.capture_onnx import OnnxAblator, find_softmax_sites

        proto = context.model.onnx_proto
        ranks = [m.ndim for m in capture.maps]
        cuda = context.device == "cuda"
        return OnnxAblator(proto, find_softmax_sites(proto), ranks, context.config.threads, cuda)
    from harness.explainers.attention.capture_torch import TorchAblator

    return TorchAblator(context.model.module, capture.sites, context.device)
