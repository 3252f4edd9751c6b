"""Deletion and insertion curves (Petsiuk, Das & Saenko 2018, "RISE") and their AUC.

Features are ranked by attribution, largest first (ties in a random order drawn from
``seed``). Deletion sets the top fraction t of the features to the baseline, for t on
``steps`` even steps from 0 to 1, and records the target's score (softmax probability with
``use_softmax``, the default, else the raw output); insertion starts from the baseline and
puts the top fraction t back. With ``normalise`` (default) each sample's curve is divided
by f(x), the score of the untouched input, so deletion starts and insertion ends at 1 and
every sample weighs alike; a sample with f(x) <= 0 is then undefined, so for raw outputs
that can be negative (logits, regressors) pass ``normalise=False``.

The metric is the area under the curve on t in [0, 1] by the trapezoidal rule: a faithful
ranking loses the score fast (deletion, lower is better) and recovers it fast (insertion,
higher is better). ``curve`` holds the mean curve over the samples on the even grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

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
from harness.explainers.metrics._features import Features, GroupReduce, features
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.stats import trapezoid

__all__ = ["deletion", "insertion"]

Mode = Literal["deletion", "insertion"]


def deletion(
    forward: Forward,
    inputs: Any,
    attributions: Any,
    target: Any = None,
    *,
    baseline: Any = 0.0,
    steps: int = 20,
    use_softmax: bool = True,
    normalise: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
    additional_forward_args: Sequence[Any] = (),
    batch_size: int = 64,
    seed: int = 0,
) -> MetricResult:
    """Deletion AUC: remove the most attributed features first (lower is better)."""
    return _curve_metric("deletion", forward, inputs, attributions, target, **_options(locals()))


def insertion(
    forward: Forward,
    inputs: Any,
    attributions: Any,
    target: Any = None,
    *,
    baseline: Any = 0.0,
    steps: int = 20,
    use_softmax: bool = True,
    normalise: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
    additional_forward_args: Sequence[Any] = (),
    batch_size: int = 64,
    seed: int = 0,
) -> MetricResult:
    """Insertion AUC: add the most attributed features first (higher is better)."""
    return _curve_metric("insertion", forward, inputs, attributions, target, **_options(locals()))


def _options(arguments: dict[str, Any]) -> dict[str, Any]:
    positional = ("forward", "inputs", "attributions", "target")
    return {k: v for k, v in arguments.items() if k not in positional}


def _curve_metric(
    mode: Mode,
    forward: Forward,
    inputs: Any,
    attributions: Any,
    target: Any = None,
    *,
    baseline: Any = 0.0,
    steps: int = 20,
    use_softmax: bool = True,
    normalise: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
    additional_forward_args: Sequence[Any] = (),
    batch_size: int = 64,
    seed: int = 0,
) -> MetricResult:
    if steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}")
    x = as_tensor(inputs)
    base = baseline_tensor(baseline, x)
    feats = features(attributions, x.shape, feature_mask, group_reduce)
    targets = per_sample_targets(target, x.shape[0])
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, steps + 1)
    aucs, curves = [], []
    for i in range(x.shape[0]):
        fractions, chosen = _schedule(feats, i, steps, rng)
        s = perturbed_scores(
            forward,
            x[i : i + 1],
            base[i : i + 1],
            feats.labels[i],
            chosen if mode == "deletion" else ~chosen,  # True: feature at the baseline
            sample_args(additional_forward_args, i, x.shape[0]),
            targets[i],
            use_softmax=use_softmax,
            batch_size=batch_size,
        )
        y = _normalised(s, mode) if normalise else s
        if np.all(np.isfinite(y)):
            aucs.append(trapezoid(y, fractions))
            curves.append(np.interp(grid, fractions, y))
        else:
            aucs.append(np.nan)
    curve = None if not curves else tuple(zip(grid, np.mean(curves, axis=0), strict=True))
    return metric_result(
        f"{mode}_auc",
        aucs,
        higher_is_better=mode == "insertion",
        parameters={
            "steps": steps,
            "baseline": describe_baseline(baseline),
            "use_softmax": int(use_softmax),
            "normalise": int(normalise),
            "group_reduce": group_reduce,
            "seed": seed,
        },
        curve=curve,
    )


def _schedule(
    feats: Features, index: int, steps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Fractions t of the features taken at each step, and ``(len(t), n)`` booleans: the
    features among the top t by attribution."""
    attr = feats.attributions[index]
    n = attr.size
    counts = np.unique(np.round(np.linspace(0, n, steps + 1)).astype(np.int64))
    order = np.lexsort((rng.permutation(n), -attr))  # largest first, ties at random
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return counts / n, rank[None, :] < counts[:, None]


def _normalised(s: np.ndarray, mode: Mode) -> np.ndarray:
    """``s`` / f(x): f(x) is the first point of deletion and the last of insertion."""
    f_x = s[0] if mode == "deletion" else s[-1]
    return s / f_x if f_x > 0 else np.full_like(s, np.nan)
