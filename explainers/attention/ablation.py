"""Head importance by ablation: zero one head's attention, measure the target score's drop.

The target score is the explanations' target on the same output (a class score, an
embedding's norm or cosine, a map summed over its predicted region, a decoded sequence's
log-probability, the top detection's score), given as ``score(output, unablated)``: each
sample's score of ``output``, where whatever the score compares with (the predicted class,
the unperturbed embedding, region or path) is read from ``unablated``, the output with
nothing ablated. A head's drop is the mean over samples of (score - score with that head's
map zeroed); positive means the head supported the target.

    redundant   |drop| < ``REDUNDANT_FRACTION`` x mean |score| (removing it changes
                nothing), claimed only over ``MIN_REDUNDANCY_SAMPLES`` samples or more: one
                sample cannot tell a head that never matters from one that did not here
    dominant    |drop| >= ``DOMINANT_SHARE`` of the sum of |drop| over all heads (two or
                more heads)

Backend-agnostic: ``run(masks)`` computes the output (batch first) with ``masks[i]`` (a
0/1 vector over site i's heads) applied; the capture backends provide it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.core.attention import Ablation, HeadFlag, HeadImportance
from harness.core.targets import TargetKind

__all__ = [
    "DOMINANT_SHARE",
    "MIN_REDUNDANCY_SAMPLES",
    "REDUNDANT_FRACTION",
    "head_importance",
    "predicted_logit",
    "target_scores",
]

REDUNDANT_FRACTION = 0.01
DOMINANT_SHARE = 0.5
MIN_REDUNDANCY_SAMPLES = 2
_FLOOR = 1e-6  # tolerance never below this: float noise is not importance

Run = Callable[[Sequence[np.ndarray]], np.ndarray]
Score = Callable[[np.ndarray, np.ndarray], np.ndarray]


def target_scores(output: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(batch,): each sample's score of its class in a (batch, classes) output."""
    return np.asarray(output[np.arange(len(classes)), classes], dtype=np.float64)


def predicted_logit(output: np.ndarray, unablated: np.ndarray) -> np.ndarray:
    """The score of the class predicted with nothing ablated, in a (batch, classes) output."""
    if output.ndim != 2:
        raise ValueError(f"the first output is {output.ndim}-D, not (batch, classes)")
    return target_scores(output, unablated.argmax(axis=1))


def head_importance(
    run: Run,
    original: np.ndarray,
    heads: Sequence[int],
    method: str,
    score: Score = predicted_logit,
    target: str = "predicted-class logit of the first output",
    target_kind: TargetKind | None = "predicted",
) -> Ablation:
    """Ablate every head of every site in turn; ``original`` is the model's own output on
    the first samples (its first axis the samples), ``heads[i]`` the head count of site i."""
    keep_all = [np.ones(n) for n in heads]
    baseline = run(keep_all)
    base = np.asarray(score(baseline, baseline), dtype=np.float64)
    drops: list[tuple[int, int, np.ndarray]] = []
    for layer, n in enumerate(heads):
        for head in range(n):
            masks = [mask.copy() for mask in keep_all]
            masks[layer][head] = 0.0
            drops.append((layer, head, base - np.asarray(score(run(masks), baseline))))
    tolerance = max(REDUNDANT_FRACTION * float(np.abs(base).mean()), _FLOOR)
    means = np.array([d.mean() for _, _, d in drops])
    total = float(np.abs(means).sum())
    judged = len(base) >= MIN_REDUNDANCY_SAMPLES
    entries = []
    for (layer, head, drop), mean in zip(drops, means, strict=True):
        flag = _flag(float(mean), tolerance, total, len(drops), judged)
        entries.append(HeadImportance(layer, head, float(mean), float(drop.std()), flag))
    compared = baseline[: len(original)]
    return Ablation(
        method=method,
        target=target,
        samples=len(base),
        baseline_score=float(base.mean()),
        unablated_max_abs_diff=float(np.abs(compared - original).max()),
        tolerance=tolerance,
        dominant_share=DOMINANT_SHARE,
        heads=tuple(entries),
        target_kind=target_kind,
    )


def _flag(drop: float, tolerance: float, total: float, count: int, judged: bool) -> HeadFlag | None:
    if abs(drop) < tolerance:
        return "redundant" if judged else None
    if count > 1 and total > 0 and abs(drop) >= DOMINANT_SHARE * total:
        return "dominant"
    return None
