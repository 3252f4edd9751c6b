"""Ground truth: do the attributions find the features known to decide the answer?

On tasks whose samples carry a boolean relevance mask (the planted patch, the trigger
tokens), two scores per sample over the sample's features, by attribution magnitude
(``absolute``, default):

- ``ground_truth_auroc``: the AUROC of the attributions as a detector of the relevant
  features, ties counting one half. 1 finds exactly the truth, 0.5 is chance, 0 ranks it
  last. Undefined for a sample with no relevant or no irrelevant feature.
- ``top_k_precision``: with k the number of relevant features, the fraction of the k most
  attributed that are relevant (features tied at the k-th score share the remaining slots
  in proportion, the expectation over random tie-breaking). Undefined with no relevant one.

Both are higher-is-better means over the defined samples. ``truth`` and ``valid`` (which
features count at all, e.g. the attention mask so padding is left out) have the
attributions' shape, or broadcast to it after trailing axes of size 1 are added; with a
``feature_mask`` a feature is relevant (valid) when any of its elements is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.explainers.metrics._common import to_numpy
from harness.explainers.metrics._features import GroupReduce, broadcast_like, features
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.stats import auroc

__all__ = ["ground_truth_auroc", "top_k_precision"]


def ground_truth_auroc(
    attributions: Any,
    truth: Any,
    *,
    valid: Any = None,
    absolute: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
) -> MetricResult:
    """AUROC of the attributions against the relevance mask ``truth``, per sample."""
    pairs = _scored(attributions, truth, valid, absolute, feature_mask, group_reduce)
    return metric_result(
        "ground_truth_auroc",
        [auroc(s, y) for s, y in pairs],
        higher_is_better=True,
        parameters=_parameters(absolute, feature_mask, valid, group_reduce),
    )


def top_k_precision(
    attributions: Any,
    truth: Any,
    *,
    valid: Any = None,
    absolute: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
) -> MetricResult:
    """Precision of the k most attributed features, k = the number of relevant ones."""
    pairs = _scored(attributions, truth, valid, absolute, feature_mask, group_reduce)
    return metric_result(
        "top_k_precision",
        [_precision_at_k(s, y) for s, y in pairs],
        higher_is_better=True,
        parameters=_parameters(absolute, feature_mask, valid, group_reduce),
    )


def _precision_at_k(scores: np.ndarray, labels: np.ndarray) -> float:
    k = int(labels.sum())
    if k == 0:
        return math.nan
    kth = np.sort(scores)[::-1][k - 1]
    above, tied = scores > kth, scores == kth
    slots = k - int(above.sum())
    expected_tied = slots * float(labels[tied].mean())
    return (float(labels[above].sum()) + expected_tied) / k


def _scored(
    attributions: Any,
    truth: Any,
    valid: Any,
    absolute: bool,
    feature_mask: Any,
    group_reduce: GroupReduce,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per sample: the valid features' scores and relevance labels."""
    values = to_numpy(attributions)
    shape = values.shape
    attr = features(values, None, feature_mask, group_reduce)
    relevant = _any_per_feature(truth, shape, feature_mask, "truth")
    counted = (
        [np.ones(a.size, dtype=bool) for a in attr.attributions]
        if valid is None
        else _any_per_feature(valid, shape, feature_mask, "valid")
    )
    out = []
    for a, y, keep in zip(attr.attributions, relevant, counted, strict=True):
        s = np.abs(a) if absolute else a
        out.append((s[keep], y[keep]))
    return out


def _any_per_feature(mask: Any, shape: Any, feature_mask: Any, what: str) -> list[np.ndarray]:
    full = (broadcast_like(mask, shape, what) != 0).astype(np.float64)
    return [f > 0 for f in features(full, None, feature_mask, "sum").attributions]


def _parameters(
    absolute: bool, feature_mask: Any, valid: Any, group_reduce: GroupReduce
) -> dict[str, str | int | float]:
    return {
        "absolute": int(absolute),
        "grouped": int(feature_mask is not None),
        "valid_mask": int(valid is not None),
        "group_reduce": group_reduce,
    }
