"""Sparseness (Chalasani et al. 2020, "Concise explanations of neural networks using
adversarial training"): the Gini index of the absolute attributions of each sample's
features. 0 when every feature gets the same magnitude, 1 - 1/N when one feature gets it
all; undefined for all-zero attributions. Higher is sparser (more concise).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.explainers.metrics._features import GroupReduce, features
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.stats import gini

__all__ = ["sparseness"]


def sparseness(
    attributions: Any, *, feature_mask: Any = None, group_reduce: GroupReduce = "sum"
) -> MetricResult:
    """Gini index of |attributions| per sample (features grouped by ``feature_mask``)."""
    feats = features(attributions, None, feature_mask, group_reduce)
    return metric_result(
        "sparseness",
        [gini(np.abs(a)) for a in feats.attributions],
        higher_is_better=True,
        parameters={"group_reduce": group_reduce, "grouped": int(feature_mask is not None)},
    )
