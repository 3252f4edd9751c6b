"""Head importance by ablation: zero one head's attention, measure the target score's drop.

The target score of a sample is its predicted-class logit: the first output must be
(batch, classes), and the class is the one predicted with nothing ablated. A head's drop
is the mean over samples of (score - score with that head's map zeroed); positive means
the head supported the prediction.

    redundant   |drop| < ``REDUNDANT_FRACTION`` x mean |score| (removing it changes nothing)
    dominant    |drop| >= ``DOMINANT_SHARE`` of the sum of |drop| over all heads (two or
                more heads)

Backend-agnostic: ``run(masks)`` computes the first output with ``masks[i]`` (a 0/1 vector
over site i's heads) applied; the capture backends provide it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.core.attention import Ablation, HeadFlag, HeadImportance

__all__ = ["DOMINANT_SHARE", "REDUNDANT_FRACTION", "head_importance", "target_scores"]

REDUNDANT_FRACTION = 0.01
DOMINANT_SHARE = 0.5
_FLOOR = 1e-6  # tolerance never below this: float noise is not importance

Run = Callable[[Sequence[np.ndarray]], np.ndarray]


def target_scores(output: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(batch,): each sample's score of its class in a (batch, classes) output."""
    return np.asarray(output[np.arange(len(classes)), classes], dtype=np.float64)


def head_importance(
    run: Run, original: np.ndarray, heads: Sequence[int], method: str, output_name: str
) -> Ablation:
    """Ablate every head of every site in turn; ``original`` is the model's own output on
    the same samples, ``heads[i]`` the head count of site i."""
    if original.ndim != 2:
        raise ValueError(f"the first output is {original.ndim}-D, not (batch, classes)")
    keep_all = [np.ones(n) for n in heads]
    baseline = run(keep_all)
    classes = baseline.argmax(axis=1)
    base = target_scores(baseline, classes)
    drops: list[tuple[int, int, np.ndarray]] = []
    for layer, n in enumerate(heads):
        for head in range(n):
            masks = [mask.copy() for mask in keep_all]
            masks[layer][head] = 0.0
            drops.append((layer, head, base - target_scores(run(masks), classes)))
    tolerance = max(REDUNDANT_FRACTION * float(np.abs(base).mean()), _FLOOR)
    means = np.array([d.mean() for _, _, d in drops])
    total = float(np.abs(means).sum())
    entries = []
    for (layer, head, drop), mean in zip(drops, means, strict=True):
        flag = _flag(float(mean), tolerance, total, len(drops))
        entries.append(HeadImportance(layer, head, float(mean), float(drop.std()), flag))
    return Ablation(
        method=method,
        target=f"predicted-class logit of output '{output_name}'",
        samples=len(base),
        baseline_score=float(base.mean()),
        unablated_max_abs_diff=float(np.abs(baseline - original).max()),
        tolerance=tolerance,
        dominant_share=DOMINANT_SHARE,
        heads=tuple(entries),
    )


def _flag(drop: float, tolerance: float, total: float, count: int) -> HeadFlag | None:
    if abs(drop) < tolerance:
        return "redundant"
    if count > 1 and total > 0 and abs(drop) >= DOMINANT_SHARE * total:
        return "dominant"
    return None
