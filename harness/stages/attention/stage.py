"""The ``attention`` stage: capture every layer's maps, verify them, analyse them.

    samples    the model's task samples (up to the budget's count, fed in batches of the
               audit's batch size), or else the audit's own inputs
    capture    onnxruntime with promoted Softmax outputs, or PyTorch forward hooks
    verify     per layer: shape, rows summing to 1, padding, softmax(QK^T) recomputed on
               the first batch
    analyse    per head: entropy, distance, first-token and self share, ground-truth AUROC;
               rollout; ground truth per layer
    ablate     head importance on the budget's first samples, when every head can be zeroed
               and the model is a classifier
    display    maps of the first samples (those with relevant tokens, when the task marks
               them), cut to the display limit

No attention found is ``skipped`` (naming any fused attention op), not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from harness.core.attention import (
    DISPLAY_SAMPLES,
    Ablation,
    AttentionLayer,
    AttentionSection,
    DisplayMaps,
    GroundTruth,
    HeadStats,
    LayerTruth,
    Rollout,
)
from harness.core.errors import HarnessError, StageError, UsageError, first_line
from harness.stages.context import AuditContext

if TYPE_CHECKING:
    from harness.explainers.attention.sites import Ablator, Capture, Capturer
    from harness.intake.samples import TaskSamples

__all__ = ["ATTENTION_BUDGETS", "MAX_CAPTURE_BYTES", "AttentionBudget", "attention_stage"]

T = TypeVar("T")


@dataclass(frozen=True)
class AttentionBudget:
    samples: int  # task samples captured (a model without a task: the audit's inputs)
    ablation_samples: int  # samples each head is ablated on
    max_ablated_heads: int  # more heads than this in all: ablation is not done


ATTENTION_BUDGETS: dict[str, AttentionBudget] = {
    "quick": AttentionBudget(samples=8, ablation_samples=4, max_ablated_heads=64),
    "standard": AttentionBudget(samples=32, ablation_samples=16, max_ablated_heads=256),
    "thorough": AttentionBudget(samples=128, ablation_samples=64, max_ablated_heads=2048),
}
MAX_CAPTURE_BYTES = 512 << 20  # maps held at once; fewer samples are captured past this


@dataclass(frozen=True, eq=False)
class _Feed:
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
class _Captured:
    capture: Capture  # the first batch (its qk) with every batch's maps and outputs joined
    count: int


def attention_stage(context: AuditContext) -> AttentionSection:
    budget = ATTENTION_BUDGETS[context.config.budget]
    capturer = _capturer(context)
    feed = _feed(context, budget)
    not_done: dict[str, str] = {}
    captured = _capture(capturer, feed, not_done)
    capture = captured.capture
    if not capture.sites:
        reason = "no attention found"
        if capturer.fused_ops:
            reason = f"fused attention ({', '.join(capturer.fused_ops)})"
        return AttentionSection(
            status="skipped",
            reason=reason,
            budget=context.config.budget,
            backend=capturer.backend,  # type: ignore[arg-type]
            fused_ops=capturer.fused_ops,
        )
    if capturer.fused_ops:
        not_done["fused attention"] = (
            f"{', '.join(capturer.fused_ops)} also compute attention; their maps are not captured"
        )
    return _analyse(context, budget, capturer, feed, captured, not_done)


# --- samples and capture ------------------------------------------------------------------


def _capturer(context: AuditContext) -> Capturer:
    model = context.model
    if model.format == "onnx":
        from harness.explainers.attention.capture_onnx import OnnxCapturer

        if model.onnx_proto is None:
            raise StageError(f"{model.name}: the ONNX graph was not loaded; re-run the audit")
        return OnnxCapturer(model.onnx_proto, context.config.threads, context.device == "cuda")
    from harness.explainers.attention.capture_torch import TorchCapturer

    return TorchCapturer(model.module, context.device)


def _feed(context: AuditContext, budget: AttentionBudget) -> _Feed:
    """The budget's count of task samples in batches of the audit's batch size, or else the
    audit's own inputs (one batch)."""
    from harness.explainers.attention.sites import first_dim

    inputs, task = context.inputs, context.inputs.task
    batch = first_dim(inputs.arrays)
    truth = task.truth_masks if task is not None else None
    own = _Feed(inputs.arrays, batch, batch, truth, task.task if task else None, None)
    own = replace(own, token_input=task.primary_input if task else _token_input(context))
    if task is None:
        return own
    samples = _task_samples(context, max(budget.samples // batch, 1) * batch)
    if samples is None or len(samples.labels) <= batch:
        return own
    return replace(own, arrays=samples.arrays, count=len(samples.labels), truth=samples.truth_masks)


def _task_samples(context: AuditContext, count: int) -> TaskSamples | None:
    from harness.intake.samples import task_samples

    try:
        samples, _ = task_samples(context.model, count)
    except UsageError:  # the test split is smaller: keep the audit's own samples
        return None
    return samples


def _token_input(context: AuditContext) -> str | None:
    for name, array in context.inputs.arrays.items():
        if array.ndim == 2 and array.dtype.kind in "iu":
            return name
    return None


def _capture(capturer: Capturer, feed: _Feed, not_done: dict[str, str]) -> _Captured:
    first = _guarded("attention capture", partial(capturer.run, feed.chunk(0), with_qk=True))
    if not first.sites:
        return _Captured(first, feed.batch)
    per_chunk = sum(m.nbytes for m in first.maps) or 1
    chunks = max(1, min(feed.chunks, MAX_CAPTURE_BYTES // per_chunk))
    if chunks < feed.chunks:
        not_done["samples"] = (
            f"captured {chunks * feed.batch} of {feed.count} samples: their maps would "
            f"exceed {MAX_CAPTURE_BYTES >> 20} MiB"
        )
    runs = [first]
    for index in range(1, chunks):
        run = _guarded("attention capture", partial(capturer.run, feed.chunk(index)))
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
    return _Captured(joined, chunks * feed.batch)


def _guarded(what: str, call: Callable[[], T]) -> T:
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


# --- analysis ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Samples:
    """The captured samples' masks: real (unpadded) tokens and ground-truth relevance."""

    count: int
    padding: np.ndarray | None  # (count, sequence) True at real tokens; None without a mask
    truth: np.ndarray | None  # (count, sequence)

    def padding_for(self, length: int) -> np.ndarray | None:
        """The padding mask when an axis of ``length`` runs over the padded sequence."""
        return _matching(self.padding, length)

    def real(self, length: int) -> np.ndarray:
        mask = self.padding_for(length)
        return mask if mask is not None else np.ones((self.count, length), dtype=bool)

    def truth_for(self, length: int) -> np.ndarray | None:
        return _matching(self.truth, length)


def _matching(mask: np.ndarray | None, length: int) -> np.ndarray | None:
    return mask if mask is not None and mask.shape[-1] == length else None


def _analyse(
    context: AuditContext,
    budget: AttentionBudget,
    capturer: Capturer,
    feed: _Feed,
    captured: _Captured,
    not_done: dict[str, str],
) -> AttentionSection:
    from harness.explainers.attention.analysis import ROLLOUT_QUERY, ROLLOUT_VARIANT
    from harness.explainers.attention.sites import split_heads

    capture, count = captured.capture, captured.count
    padding_input = _padding_input(feed, count)
    samples = _Samples(
        count=count,
        padding=feed.arrays[padding_input][:count] != 0 if padding_input else None,
        truth=feed.truth[:count].astype(bool) if feed.truth is not None else None,
    )
    maps = [split_heads(raw, count) for raw in capture.maps]
    layers, received = _layers(capture, maps, samples)
    square, tokens = _rollout(maps, samples, not_done)
    return AttentionSection(
        status="ok",
        budget=context.config.budget,
        backend=capturer.backend,  # type: ignore[arg-type]
        method=f"{capturer.method}; Q K^T recomputed on the first batch where captured",
        samples=count,
        sequence_tokens=_sequence_tokens(feed),
        padding_input=padding_input,
        layers=layers,
        fused_ops=capturer.fused_ops,
        rollout=Rollout(ROLLOUT_VARIANT, ROLLOUT_QUERY, square) if square else None,
        ground_truth=_ground_truth(feed, samples, received, square, tokens, not_done),
        ablation=_ablation(context, budget, feed, capture, maps, not_done),
        display=_display(feed, samples, maps, tokens),
        not_done=not_done,
    )


def _layers(
    capture: Capture, maps: Sequence[np.ndarray | None], samples: _Samples
) -> tuple[tuple[AttentionLayer, ...], list[np.ndarray | None]]:
    """Each site verified and summarised, and the attention each of its keys receives
    ((count, heads, key), None when the map would not split per head)."""
    from harness.explainers.attention.analysis import received
    from harness.explainers.attention.verify import verify_layer

    layers, scores = [], []
    for index, (site, raw, split) in enumerate(zip(capture.sites, capture.maps, maps, strict=True)):
        key_pad = samples.padding_for(split.shape[-1]) if split is not None else None
        query_pad = samples.padding_for(split.shape[-2]) if split is not None else None
        verification = verify_layer(raw, split, key_pad, query_pad, capture.qk[index])
        stats: tuple[HeadStats, ...] = ()
        layer_scores = None
        if split is not None:
            query_real = samples.real(split.shape[-2])
            layer_scores = received(split, query_real)
            stats = _head_stats(split, samples, query_real, layer_scores)
        scores.append(layer_scores)
        layers.append(
            AttentionLayer(
                index=index,
                name=site.name,
                kind=site.kind,
                heads=int(split.shape[1]) if split is not None else 0,
                query_tokens=int(raw.shape[-2]),
                key_tokens=int(raw.shape[-1]),
                captured_shape=tuple(int(d) for d in raw.shape),
                verification=verification,
                head_stats=stats,
            )
        )
    return tuple(layers), scores


def _head_stats(
    maps: np.ndarray, samples: _Samples, query_real: np.ndarray, scores: np.ndarray
) -> tuple[HeadStats, ...]:
    from harness.explainers.attention.analysis import head_arrays, mean_auroc

    key_real = samples.real(maps.shape[-1])
    arrays = head_arrays(maps, key_real, query_real)
    truth = samples.truth_for(maps.shape[-1])
    stats = []
    for head in range(maps.shape[1]):
        auroc = mean_auroc(scores[:, head], truth, key_real)[0] if truth is not None else None
        self_share = arrays.self_share
        stats.append(
            HeadStats(
                head=head,
                entropy=float(arrays.entropy[head]),
                mean_distance_tokens=float(arrays.mean_distance[head]),
                first_token_share=float(arrays.first_token[head]),
                self_share=float(self_share[head]) if self_share is not None else None,
                truth_auroc=auroc,
            )
        )
    return tuple(stats)


def _rollout(
    maps: Sequence[np.ndarray | None], samples: _Samples, not_done: dict[str, str]
) -> tuple[tuple[int, ...], dict[int, np.ndarray]]:
    """(layers multiplied, layer -> (count, sequence) per-token rollout through it)."""
    from harness.explainers.attention.analysis import rollout, rollout_tokens

    square = [i for i, m in enumerate(maps) if m is not None and m.shape[-1] == m.shape[-2]]
    if square:
        length = maps[square[0]].shape[-1]  # type: ignore[union-attr]  # square ones are set
        square = [i for i in square if maps[i].shape[-1] == length]  # type: ignore[union-attr]
    if not square:
        not_done["rollout"] = "no layer has square (self-attention) maps"
        return (), {}
    products = rollout([maps[i] for i in square])  # type: ignore[misc]  # square ones are set
    query_real = samples.real(products[0].shape[-1])
    return tuple(square), {
        layer: rollout_tokens(product, query_real)
        for layer, product in zip(square, products, strict=True)
    }


def _ground_truth(
    feed: _Feed,
    samples: _Samples,
    received: Sequence[np.ndarray | None],
    square: Sequence[int],
    tokens: dict[int, np.ndarray],
    not_done: dict[str, str],
) -> GroundTruth | None:
    from harness.explainers.attention.analysis import mean_auroc

    if feed.task is None or samples.truth is None:
        not_done["ground truth"] = "the model has no reference task with relevance masks"
        return None
    per_layer, counted = [], 0
    for layer, scores in enumerate(received):
        truth = samples.truth_for(scores.shape[-1]) if scores is not None else None
        if scores is None or truth is None:
            per_layer.append(LayerTruth(layer, None, None))
            continue
        real = samples.real(scores.shape[-1])
        attention, counted = mean_auroc(scores.mean(axis=1), truth, real)
        rolled = None
        if layer in tokens and tokens[layer].shape[-1] == truth.shape[-1]:
            rolled = mean_auroc(tokens[layer], truth, real)[0]
        per_layer.append(LayerTruth(layer, attention, rolled))
    return GroundTruth(
        task=feed.task,
        samples=counted,
        score="attention each real token receives, averaged over heads and real queries "
        "(rollout: its rollout through the layer); AUROC per sample, averaged",
        layers=tuple(per_layer),
    )


# --- ablation ----------------------------------------------------------------------------


def _ablation(
    context: AuditContext,
    budget: AttentionBudget,
    feed: _Feed,
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
            _guarded("head ablation", partial(ablator.output, feed.chunk(i), masks))
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


# --- display -----------------------------------------------------------------------------


def _display(
    feed: _Feed,
    samples: _Samples,
    maps: Sequence[np.ndarray | None],
    tokens: dict[int, np.ndarray],
) -> tuple[DisplayMaps, ...]:
    """Maps of the first ``DISPLAY_SAMPLES`` samples, those with a relevant token first."""
    from harness.explainers.attention.display import display_maps, token_labels

    order = list(range(samples.count))
    if samples.truth is not None:
        order.sort(key=lambda i: not samples.truth[i].any())  # type: ignore[index]
    last = tokens[max(tokens)] if tokens else None
    shown = []
    for sample in order[:DISPLAY_SAMPLES]:
        length = max((m.shape[-1] for m in maps if m is not None), default=0)
        real = samples.real(length)[sample]
        ids = feed.arrays[feed.token_input][sample] if feed.token_input else None
        truth = samples.truth_for(length)
        shown.append(
            display_maps(
                sample,
                [m[sample] if m is not None else None for m in maps],
                int(real.sum()),
                token_labels(ids, length),
                truth[sample] if truth is not None else None,
                last[sample] if last is not None else None,
            )
        )
    return tuple(shown)


def _padding_input(feed: _Feed, count: int) -> str | None:
    """The input read as the key-padding mask: 2-D, named like a mask, holding only 0 and
    1 (1 a real token)."""
    for name, array in feed.arrays.items():
        if "mask" in name.lower() and array.ndim == 2 and array.shape[0] >= count:
            values = np.unique(array[:count])
            if values.size and np.isin(values, (0, 1)).all():
                return name
    return None


def _sequence_tokens(feed: _Feed) -> int:
    if feed.token_input is not None:
        return int(feed.arrays[feed.token_input].shape[-1])
    return max((int(a.shape[1]) for a in feed.arrays.values() if a.ndim >= 2), default=0)
