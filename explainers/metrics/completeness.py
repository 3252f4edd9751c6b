"""Completeness (Sundararajan, Taly & Yan 2017, "Axiomatic attribution for deep networks").

Attributions are complete when they add up to the change of the output between the
baseline and the input: sum(attr) = f(x) - f(baseline). The metric is the gap,
|sum(attr) - (f(x) - f(baseline))| (Integrated Gradients' convergence delta), or with
``relative`` that gap divided by |f(x) - f(baseline)| (undefined where the output does not
change). Lower is better; 0 is exact. ``forward`` must return the quantity the method
attributed (raw outputs by default; pass ``use_softmax`` if probabilities were attributed).
"""

from __future__ import annotations

import math
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
    to_numpy,
)
from harness.explainers.metrics.base import MetricResult, metric_result

__all__ = ["completeness"]


def completeness(
    forward: Forward,
    inputs: Any,
    attributions: Any,
    target: Any = None,
    *,
    baseline: Any = 0.0,
    relative: bool = False,
    use_softmax: bool = False,
    additional_forward_args: Sequence[Any] = (),
) -> MetricResult:
    """Completeness gap of ``attributions`` (any shape with the batch first)."""
    x = as_tensor(inputs)
    attr = to_numpy(attributions)
    if attr.shape[:1] != tuple(x.shape[:1]):
        raise UsageError(
            f"attributions for {attr.shape[0] if attr.ndim else 0} samples, inputs for "
            f"{x.shape[0]}; pass one attribution per input sample"
        )
    base = baseline_tensor(baseline, x)
    targets = per_sample_targets(target, x.shape[0])
    totals = attr.reshape(attr.shape[0], -1).sum(axis=1)
    per_sample = []
    one_feature = np.zeros(tuple(x.shape[1:]), dtype=np.int64)  # every element, one feature
    for i in range(x.shape[0]):
        f_x, f_b = perturbed_scores(
            forward,
            x[i : i + 1],
            base[i : i + 1],
            one_feature,
            np.array([[False], [True]]),  # the input, then the baseline
            sample_args(additional_forward_args, i, x.shape[0]),
            targets[i],
            use_softmax=use_softmax,
            batch_size=2,
        )
        per_sample.append(_gap(float(totals[i]), float(f_x - f_b), relative))
    return metric_result(
        "completeness_relative" if relative else "completeness",
        per_sample,
        higher_is_better=False,
        parameters={
            "baseline": describe_baseline(baseline),
            "relative": int(relative),
            "use_softmax": int(use_softmax),
        },
    )


def _gap(total: float, change: float, relative: bool) -> float:
    gap = abs(total - change)
    if not relative:
        return gap
    return gap / abs(change) if change != 0.0 else math.nan
