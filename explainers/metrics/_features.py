"""Features: the units a metric ranks, removes, sums or correlates.

By default every attribution entry is one feature. Attributions may be coarser than the
input when their shape, padded with trailing 1s, broadcasts to it: ``(batch, seq)``
attributions over ``(batch, seq, dim)`` embeddings make one feature per token,
``(batch, 1, H, W)`` over ``(batch, 3, H, W)`` one per pixel across channels.

A ``feature_mask`` of integer labels groups input elements into features (image patches,
word pieces); it has one sample's shape (shared by the batch) or the batch's shape (one
grouping per sample), padded with trailing 1s like attributions. A feature's attribution
is then the sum over its elements (``group_reduce="sum"``) of the attributions broadcast
to the input's shape, or their mean (``"mean"``: right for methods such as
FeatureAblation with a mask, which write the group's whole effect into every element).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.core.errors import UsageError
from harness.explainers.metrics._common import to_numpy

__all__ = ["Features", "GroupReduce", "broadcast_like", "features"]

GroupReduce = Literal["sum", "mean"]


@dataclass(frozen=True)
class Features:
    """Per sample: the feature label of every input element, and each feature's attribution."""

    labels: tuple[np.ndarray, ...]  # sample i: int array of one sample's input shape
    attributions: tuple[np.ndarray, ...]  # sample i: float64 (n_features_i,)

    def count(self, index: int) -> int:
        return int(self.attributions[index].size)


def features(
    attributions: Any,
    input_shape: Sequence[int] | None = None,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
) -> Features:
    """Group ``attributions`` into features over an input of ``input_shape`` (default: the
    attributions' own shape)."""
    attr = to_numpy(attributions)
    if not np.all(np.isfinite(attr)):
        raise UsageError("attributions hold NaN or infinite values; score finite ones only")
    shape = tuple(int(d) for d in (input_shape if input_shape is not None else attr.shape))
    padded = _padded(attr, shape, "attributions")
    if feature_mask is None:
        n_entries = int(np.prod(attr.shape[1:], dtype=np.int64))
        labels = np.broadcast_to(np.arange(n_entries).reshape(padded.shape[1:]), shape[1:])
        rows = attr.reshape(shape[0], -1)
        return Features((labels,) * shape[0], tuple(rows[i] for i in range(shape[0])))
    if group_reduce not in ("sum", "mean"):
        raise UsageError(f"group_reduce must be 'sum' or 'mean', got {group_reduce!r}")
    masks = _mask_per_sample(feature_mask, shape)
    full = np.broadcast_to(padded, shape)
    all_labels, all_attr = [], []
    for i in range(shape[0]):
        _, inverse = np.unique(masks[i], return_inverse=True)
        flat = inverse.ravel()
        sums: np.ndarray = np.bincount(flat, weights=full[i].ravel())
        if group_reduce == "mean":
            sums = sums / np.bincount(flat)
        all_labels.append(flat.reshape(shape[1:]))
        all_attr.append(sums)
    return Features(tuple(all_labels), tuple(all_attr))


def broadcast_like(values: Any, shape: Sequence[int], what: str) -> np.ndarray:
    """``values`` (the batch first, trailing axes of size 1 added as needed) broadcast to
    ``shape``, as a float64 array."""
    target = tuple(int(d) for d in shape)
    return np.broadcast_to(_padded(to_numpy(values), target, what), target)


def _mask_per_sample(feature_mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(to_numpy(feature_mask))
    if not np.all(mask == np.round(mask)):
        raise UsageError("feature_mask must hold integer labels")
    mask = mask.astype(np.int64)
    if mask.ndim != len(shape):  # one grouping shared by the batch
        mask = mask[None]
    padded = _padded(mask, shape, "feature_mask", batch_may_be_one=True)
    return np.broadcast_to(padded, shape)


def _padded(
    values: np.ndarray, shape: tuple[int, ...], what: str, batch_may_be_one: bool = False
) -> np.ndarray:
    if values.ndim == 0 or values.ndim > len(shape):
        raise UsageError(
            f"{what} of shape {values.shape} must have the batch first and at most the "
            f"inputs' {len(shape)} axes {shape}"
        )
    padded: np.ndarray = values.reshape(values.shape + (1,) * (len(shape) - values.ndim))
    batch_ok = padded.shape[0] == shape[0] or (batch_may_be_one and padded.shape[0] == 1)
    axes_ok = all(a in (1, s) for a, s in zip(padded.shape[1:], shape[1:], strict=True))
    if not (batch_ok and axes_ok):
        raise UsageError(
            f"{what} of shape {values.shape} does not match inputs of shape {shape}; it "
            "must equal it, or broadcast to it after padding with trailing axes of size 1"
        )
    return padded
