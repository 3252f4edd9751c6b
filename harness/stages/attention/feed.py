"""The attention stage's samples and their capture.

Feed          the samples to capture, fed in batches of the audit's batch size: the
              budget's count of task samples (from ``harness.intake.samples``), or else
              the audit's own inputs (one batch)
capturer_for  onnxruntime with promoted Softmax outputs (given the ranks onnxruntime
              observes where shape inference gives none), or PyTorch forward hooks
capture_maps  every batch through the capturer, joined; fewer past MAX_CAPTURE_BYTES
guarded       a runtime's failure (onnxruntime, torch) mapped to ``StageError``
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from harness.core.errors import HarnessError, StageError, first_line
from harness.core.sessions import SessionSettings, create_session
from harness.intake.samples import stage_samples
from harness.stages.attention.budget import MAX_CAPTURE_BYTES, AttentionBudget
from harness.stages.context import AuditContext

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Capture, Capturer

__all__ = [
    "Captured",
    "Feed",
    "capture_maps",
    "capturer_for",
    "feed_for",
    "guarded",
    "observed_ranks",
]

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Feed:
    """The samples to capture, fed ``batch`` at a time."""

    arrays: dict[str, np.ndarray]
    batch: int
    count: int
    truth: np.ndarray | None  # (count, sequence) relevance, from the task
    task: str | None
    token_input: str | None  # integer (batch, sequence) input whose values label the tokens
    # The inputs with the sample axis first; None: every input (task samples).
    batched: frozenset[str] | None = None

    def chunk(self, index: int) -> dict[str, np.ndarray]:
        """Batch ``index``; the arrays as they are when there is one batch (the audit's own
        inputs, which may hold scalars and state without a batch axis)."""
        if self.count == self.batch:
            return self.arrays
        start = index * self.batch
        return {
            name: a[start : start + self.batch] if self._has_samples(name) else a
            for name, a in self.arrays.items()
        }

    def _has_samples(self, name: str) -> bool:
        return self.batched is None or name in self.batched

    @property
    def chunks(self) -> int:
        return self.count // self.batch


@dataclass(frozen=True, eq=False)
class Captured:
    capture: Capture  # the first batch (its qk) with every batch's maps and outputs joined
    count: int
    first_output: np.ndarray  # the first batch's output as the runtime gave it


def capturer_for(context: AuditContext, feed: Feed) -> Capturer:
    model = context.model
    if model.format == "onnx":
        from harness.explainers.attention.capture_onnx import OnnxCapturer

        if model.onnx_proto is None:
            raise StageError(f"{model.name}: the ONNX graph was not loaded; re-run the audit")
        ranks = observed_ranks(context, feed)
        cuda = context.device == "cuda"
        return OnnxCapturer(model.onnx_proto, context.config.threads, cuda, ranks)
    from harness.explainers.attention.capture_torch import TorchCapturer

    return TorchCapturer(model.module, context.device)


def observed_ranks(context: AuditContext, feed: Feed) -> dict[str, int]:
    """The ranks onnxruntime gives the Softmax inputs shape inference cannot rank (an
    exporter's runtime-computed Reshape before ``Softmax(axis=3)``): one run of the first
    batch with them promoted to outputs. Empty when none is needed or the run fails (those
    softmaxes are then rejected, their rank unknown)."""
    from harness.explainers.attention.capture_onnx import promoted_model, unranked_softmax_inputs

    proto = context.model.onnx_proto
    names = list(unranked_softmax_inputs(proto))
    if not names:
        return {}
    settings = SessionSettings(device=context.device, intra_op_threads=context.config.threads)
    try:
        session = create_session(promoted_model(proto, names), settings)
        values = session.run(names, feed.chunk(0))
    except Exception as exc:  # the runtime boundary: the verdicts say the rank is unknown
        log.warning("observing the attention softmaxes' ranks failed: %s", first_line(exc))
        return {}
    return {name: np.asarray(value).ndim for name, value in zip(names, values, strict=True)}


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
        return Captured(first, feed.batch, first.output)
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
    return Captured(joined, chunks * feed.batch, first.output)


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
