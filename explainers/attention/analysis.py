"""What the captured maps say: per-head statistics, rollout, agreement with ground truth.

Pure numpy over (batch, heads, query, key) maps and boolean masks of the real (unpadded)
positions. Every average runs over the real query positions of every sample.

    entropy          -sum p log p over the unmasked keys / log(number of unmasked keys),
                     in [0, 1] (0 for a row with one key): 1 is uniform, 0 is one key
    mean distance    sum over keys of p x |query position - key position|, in tokens
    first-token      p on key position 0
    self share       p on the query's own position (square maps only)
    rollout          Abnar & Zuidema (2020), the variant with the residual as identity:
                     Â = 0.5·A + 0.5·I with A averaged over heads, rows renormalised,
                     R = Â_L ⋯ Â_1; a token's rollout is the mean of its column over the
                     real query rows (the target of a classifier that mean-pools)
    ground truth     per sample, AUROC of each real token's score (attention it receives,
                     averaged over the real queries) against the relevance mask; averaged
                     over the samples that have both relevant and other real tokens
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ROLLOUT_QUERY",
    "ROLLOUT_VARIANT",
    "HeadArrays",
    "auroc",
    "head_arrays",
    "mean_auroc",
    "received",
    "rollout",
    "rollout_tokens",
]

ROLLOUT_VARIANT = "0.5·A + 0.5·I, heads averaged, rows renormalised, product over layers"
ROLLOUT_QUERY = "mean over the real query positions"


@dataclass(frozen=True)
class HeadArrays:
    """Per-head statistics of one layer, each of shape (heads,)."""

    entropy: np.ndarray
    mean_distance: np.ndarray
    first_token: np.ndarray
    self_share: np.ndarray | None


def head_arrays(maps: np.ndarray, key_real: np.ndarray, query_real: np.ndarray) -> HeadArrays:
    """Statistics of (batch, heads, q, k) ``maps``; ``key_real`` (batch, k) and
    ``query_real`` (batch, q) mark the real positions."""
    p = maps.astype(np.float64)
    _, _, q, k = p.shape
    keys = key_real.astype(bool)[:, None, None, :]
    n_keys = key_real.astype(bool).sum(axis=-1).astype(np.float64)  # (batch,)
    plogp = np.where(keys & (p > 0), p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    log_n = np.log(np.maximum(n_keys, 1.0))[:, None, None]
    entropy = np.where(log_n > 0, -plogp.sum(axis=-1) / np.where(log_n > 0, log_n, 1.0), 0.0)
    distance = np.abs(np.arange(q)[:, None] - np.arange(k)[None, :]).astype(np.float64)
    weights = query_real.astype(np.float64)[:, None, :]  # (batch, 1, q)
    self_share = None
    if q == k:
        self_share = _mean_rows(np.diagonal(p, axis1=-2, axis2=-1), weights)
    return HeadArrays(
        entropy=np.clip(_mean_rows(entropy, weights), 0.0, 1.0),
        mean_distance=_mean_rows((p * distance).sum(axis=-1), weights),
        first_token=_mean_rows(p[..., 0], weights),
        self_share=self_share,
    )


def received(maps: np.ndarray, query_real: np.ndarray) -> np.ndarray:
    """(batch, heads, k): attention each key receives, averaged over the real queries."""
    weights = query_real.astype(np.float64)[:, None, :, None]
    total = np.maximum(weights.sum(axis=2), 1.0)
    return np.asarray((maps.astype(np.float64) * weights).sum(axis=2) / total)


def rollout(layers: Sequence[np.ndarray]) -> list[np.ndarray]:
    """(batch, s, s) rollout through each of ``layers`` ((batch, heads, s, s) maps), in order."""
    out = []
    product: np.ndarray | None = None
    for maps in layers:
        mixed = 0.5 * maps.astype(np.float64).mean(axis=1) + 0.5 * np.eye(maps.shape[-1])
        mixed /= mixed.sum(axis=-1, keepdims=True)
        product = mixed if product is None else mixed @ product
        out.append(product)
    return out


def rollout_tokens(product: np.ndarray, query_real: np.ndarray) -> np.ndarray:
    """(batch, s): each input token's rollout, averaged over the real query rows."""
    weights = query_real.astype(np.float64)[:, :, None]
    return np.asarray((product * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0))


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for boolean ``labels`` (ties count half);
    None when the labels hold one class only. The Mann-Whitney U statistic over average
    ranks."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = (ends - counts + 1 + ends) / 2.0  # 1-based, ties share their mean rank
    ranks = average_rank[inverse]
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def mean_auroc(scores: np.ndarray, truth: np.ndarray, real: np.ndarray) -> tuple[float | None, int]:
    """(mean over samples of the AUROC of ``scores`` (batch, s) against ``truth`` over the
    ``real`` tokens, number of samples it could be computed on)."""
    values = []
    for sample_scores, sample_truth, sample_real in zip(scores, truth, real, strict=True):
        keep = sample_real.astype(bool)
        value = auroc(sample_scores[keep], sample_truth.astype(bool)[keep])
        if value is not None:
            values.append(value)
    return (float(np.mean(values)) if values else None), len(values)


def _mean_rows(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(heads,): ``values`` (batch, heads, q) averaged over the weighted (real) query rows."""
    total = (weights * np.ones_like(values)).sum(axis=(0, 2))
    return np.asarray((values * weights).sum(axis=(0, 2)) / np.maximum(total, 1.0))
