"""Faithfulness correlation (Bhatt, Weller & Moura 2020, "Evaluating and aggregating
feature-based model explanations").

For each sample, draw ``n_subsets`` random subsets S of the features, each of
``subset_size`` (a fraction of the features, at least one, fewer than all); the metric is
the Pearson correlation, over the subsets, between the summed attribution of S and the
drop of the target's score when S is replaced by the baseline, f(x) - f(x with S := b).
1 means the attributions predict exactly what removing features does; about 0 is chance.
Higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.core.errors import UsageError
from harness.explainers.metrics._common import (
    Forward,
    as_tensor,
    baseline_tensor,
    describe_baseline,
    per_sample_targets,
    perturbed_scores,
    sample_args,
)
from harness.explainers.metrics._features import GroupReduce, features
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.stats import pearson

__all__ = ["faithfulness_correlation"]


def faithfulness_correlation(
    forward: Forward,
    inputs: Any,
    attributions: Any,
    target: Any = None,
    *,
    baseline: Any = 0.0,
    n_subsets: int = 50,
    subset_size: float = 0.1,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
    additional_forward_args: Sequence[Any] = (),
    use_softmax: bool = False,
    batch_size: int = 64,
    seed: int = 0,
) -> MetricResult:
    """Faithfulness correlation of ``attributions`` for ``forward`` at ``inputs``."""
    if n_subsets < 2:
        raise UsageError(f"n_subsets must be >= 2 for a correlation, got {n_subsets}")
    if not 0.0 < subset_size < 1.0:
        raise UsageError(f"subset_size is a fraction of the features in (0, 1), got {subset_size}")
    x = as_tensor(inputs)
    base = baseline_tensor(baseline, x)
    feats = features(attributions, x.shape, feature_mask, group_reduce)
    targets = per_sample_targets(target, x.shape[0])
    rng = np.random.default_rng(seed)
    per_sample = []
    for i in range(x.shape[0]):
        n = feats.count(i)
        if n < 2:
            raise UsageError(f"sample {i} has {n} feature; faithfulness needs at least 2")
        size = min(max(1, round(subset_size * n)), n - 1)
        order = rng.permuted(np.tile(np.arange(n), (n_subsets, 1)), axis=1)[:, :size]
        removed = np.zeros((n_subsets, n), dtype=bool)
        np.put_along_axis(removed, order, True, axis=1)
        chosen = np.vstack([np.zeros((1, n), dtype=bool), removed])  # row 0: x itself
        s = perturbed_scores(
            forward,
            x[i : i + 1],
            base[i : i + 1],
            feats.labels[i],
            chosen,
            sample_args(additional_forward_args, i, x.shape[0]),
            targets[i],
            use_softmax=use_softmax,
            batch_size=batch_size,
        )
        per_sample.append(pearson(removed @ feats.attributions[i], s[0] - s[1:]))
    return metric_result(
        "faithfulness_correlation",
        per_sample,
        higher_is_better=True,
        parameters={
            "n_subsets": n_subsets,
            "subset_size": subset_size,
            "baseline": describe_baseline(baseline),
            "use_softmax": int(use_softmax),
            "group_reduce": group_reduce,
            "seed": seed,
        },
    )
