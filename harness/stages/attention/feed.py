"""The attention stage's samples and their capture.

Feed          the samples to capture, fed in batches of the audit's batch size: the
              budget's count of task samples (from ``harness.intake.samples``), or else
              the audit's own inputs (one batch)
capturer_for  onnxruntime with promoted Softmax outputs, or PyTorch forward hooks
capture_maps  every batch through the capturer, joined; fewer past MAX_CAPTURE_BYTES
guarded       a runtime's failure (onnxruntime, torch) mapped to ``StageError``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from harness.core.errors import HarnessError, StageError, first_line
from harness.intake.samples import stage_samples
from harness.stages.attention.budget import MAX_CAPTURE_BYTES, AttentionBudget
from harness.stages.context import AuditContext

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Capture, Capturer

__all__ = ["Captured", "Feed", "capture_maps", "capturer_for", "feed_for", "guarded"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Feed:
    """The samples to capture, fed ``batch`` at a time."""

    arrays: dict[str, np.ndarray]
    batch: int
    count: int
    truth: np.ndarray | None  # (count, sequence) relevance, from the task
    task: str | None
    token_input: str | None  # integer (batch, sequence) input whose values label the tokens

    def chunk(self, index: int) -> dict[str, np.ndarray]:
        """Batch ``index``; the arrays as they are when there is one batch (the audit's own
        inputs, which may hold scalars and state without a batch axis)."""
        if self.count == self.batch:
            return self.arrays
        start = index * self.batch
        return {name: a[start : start + self.batch] for name, a in self.arrays.items()}

    @property
    def chunks(self) -> int:
        return self.count // self.batch


@dataclass(frozen=True, eq=False)
class Captured:
    capture: Capture  # the first batch (its qk) with every batch's maps and outputs joined
    count: int


def capturer_for(context: AuditContext) -> Capturer:
    model = context.model
    if model.format == "onnx":
        from harness.explainers.attention.capture_onnx import OnnxCapturer

        if model.onnx_proto is None:
            raise StageError(f"{model.name}: the ONNX graph was not loaded; re-run the audit")
        return OnnxCapturer(model.onnx_proto, context.config.threads, context.device == "cuda")
    from harness.explainers.attention.capture_torch import TorchCapturer

    return TorchCapturer(model.module, context.device)


def feed_for(context: AuditContext, budget: AttentionBudget) -> Feed:
    """The budget's count of task samples in batches of the audit's batch size, or else the
    audit's own inputs (one batch)."""
    from harness.explainers.attention.sites import first_dim

    inputs, task = context.inputs, context.inputs.task
    batch = first_dim(inputs.arrays)
    truth = task.truth_masks if task is not None else None
    own = Feed(inputs.arrays, batch, batch, truth, task.task if task else None, None)
    own = replace(own, token_input=task.primary_input if task else _token_input(context))
    if task is None:
        return own
    # Whole batches of the task's test samples, from intake's one provider (every input of a
    # task carries the sample axis).
    count = max(budget.samples // batch, 1) * batch
    samples = stage_samples(
        context.model, inputs, context.config.seed, count, batched=frozenset(inputs.arrays)
    )
    if samples.count < count or samples.count <= batch:
        # A test split smaller than asked for, or no more than the audit's own batch: the
        # audit's own samples.
        return own
    return replace(own, arrays=samples.arrays, count=samples.count, truth=samples.truth)


def _token_input(context: AuditContext) -> str | None:
    for name, array in context.inputs.arrays.items():
        if array.ndim == 2 and array.dtype.kind in "iu":
            return name
    return None


def capture_maps(capturer: Capturer, feed: Feed, not_done: dict[str, str]) -> Captured:
    first = guarded("attention capture", partial(capturer.run, feed.chunk(0), with_qk=True))
    if not first.sites:
        return Captured(first, feed.batch)
    per_chunk = sum(m.nbytes for m in first.maps) or 1
    chunks = max(1, min(feed.chunks, MAX_CAPTURE_BYTES // per_chunk))
    if chunks < feed.chunks:
        not_done["samples"] = (
            f"captured {chunks * feed.batch} of {feed.count} samples: their maps would "
            f"exceed {MAX_CAPTURE_BYTES >> 20} MiB"
        )
    runs = [first]
    for index in range(1, chunks):
        run = guarded("attention capture", partial(capturer.run, feed.chunk(index)))
        if [s.name for s in run.sites] != [s.name for s in first.sites]:
            raise StageError(
                "the attention modules that ran differ between batches of the same model; "
                "audit with a single batch (--shape with the batch size of --data)"
            )
        runs.append(run)
    joined = replace(
        first,
        maps=tuple(np.concatenate([r.maps[i] for r in runs]) for i in range(len(first.sites))),
        output=np.concatenate([r.output for r in runs]),
    )
    return Captured(joined, chunks * feed.batch)


def guarded(what: str, call: Callable[[], T]) -> T:
    """``call()``, with a runtime's failure (onnxruntime, torch) mapped to ``StageError``."""
    try:
        return call()
    except HarnessError:
        raise
    except Exception as exc:  # the runtime boundary: any runtime error fails the stage
        raise StageError(
            f"{what} failed: {type(exc).__name__}: {first_line(exc)}; the model itself ran on "
            "these inputs, so the capture's changes (promoted outputs, masks or hooks) broke "
            "it: report it with the model, and --skip attention meanwhile"
        ) from exc
