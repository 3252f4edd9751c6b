"""The score-threshold attacks: each maps a record's class log-probabilities (and its label,
where it needs one) to a membership score, higher meaning "more likely a member".

    loss              log p_y: the negative cross-entropy loss (Yeom et al. 2018)
    confidence        max_i p_i (Salem et al. 2019)
    entropy           -H(p): a member's prediction is sharper (Salem et al. 2019)
    modified_entropy  -Mentr(p, y), Mentr = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)
                      (Song and Mittal 2021): low for a confident right answer, high for a
                      confident wrong one, which plain entropy cannot tell apart
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["SCORE_ATTACKS", "ScoreAttack"]


@dataclass(frozen=True)
class ScoreAttack:
    name: str
    description: str
    needs_labels: bool
    # (log-probabilities (N, classes), labels (N,) or None) -> scores (N,)
    score: Callable[[np.ndarray, np.ndarray | None], np.ndarray]


def _true_class(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return values[np.arange(len(labels)), labels]


def _loss(log_p: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    assert labels is not None
    return _true_class(log_p, labels)


def _confidence(log_p: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    # log max p: the same order as max p, without rounding a saturated softmax to ties at 1.
    return log_p.max(axis=1)


def _entropy(log_p: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    return (np.exp(log_p) * log_p).sum(axis=1)


def _modified_entropy(log_p: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    assert labels is not None
    p = np.exp(log_p)
    rows = np.arange(len(labels))
    # log(1 - p_i) = log(-expm1(log p_i)): accurate where p_i is within 1e-16 of 1.
    log_rest = np.log(np.clip(-np.expm1(log_p), 1e-300, None))
    others = p * log_rest
    others[rows, labels] = 0.0
    p_true, log_p_true = p[rows, labels], log_p[rows, labels]
    mentr = -(1.0 - p_true) * log_p_true - others.sum(axis=1)
    return -mentr


SCORE_ATTACKS = (
    ScoreAttack("loss", "log-probability of the true class (minus the loss)", True, _loss),
    ScoreAttack("confidence", "the largest class probability", False, _confidence),
    ScoreAttack("entropy", "minus the entropy of the class probabilities", False, _entropy),
    ScoreAttack(
        "modified_entropy",
        "minus Song and Mittal's modified entropy (label-aware)",
        True,
        _modified_entropy,
    ),
)
