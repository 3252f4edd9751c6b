"""Complexity (Bhatt, Weller & Moura 2020, "Evaluating and aggregating feature-based model
explanations"): the Shannon entropy, in nats, of each sample's absolute feature
attributions normalised to sum 1. log N when every one of N features matters equally, 0
when one feature takes all; undefined for all-zero attributions. Lower is simpler.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.explainers.metrics._features import GroupReduce, features
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.stats import entropy

__all__ = ["complexity"]


def complexity(
    attributions: Any, *, feature_mask: Any = None, group_reduce: GroupReduce = "sum"
) -> MetricResult:
    """Entropy of |attributions| / sum |attributions| per sample."""
    feats = features(attributions, None, feature_mask, group_reduce)
    return metric_result(
        "complexity",
        [entropy(np.abs(a)) for a in feats.attributions],
        higher_is_better=False,
        parameters={"group_reduce": group_reduce, "grouped": int(feature_mask is not None)},
    )
