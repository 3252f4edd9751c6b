"""An attack's scores and flags, judged: the separation statistics, the ROC curve, the
members it exposes most, and the same per class.

Every number comes from ``harness.core.membership_stats``. An attack hands over, for each
target FPR, which records it flags, each judged by a threshold fitted without it (a
cross-fitted score threshold, or QMIA's per-record regression); a point is estimable only
when the non-members so judged number at least 10 / FPR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.membership_stats import (
    auc,
    auc_bootstrap_ci,
    auc_permutation_p,
    clopper_pearson,
    epsilon_lower_bound,
    min_nonmembers,
)
from harness.core.privacy import ClassSlice, ExposedRecord, OperatingPoint, RocCurve, Separation

__all__ = [
    "EXPOSED_RECORDS",
    "MIN_SLICE_RECORDS",
    "ROC_POINTS",
    "Judged",
    "class_slices",
    "exposed_records",
    "roc_curve",
    "separation",
]

EXPOSED_RECORDS = 10  # members listed per attack, most exposed first
MIN_SLICE_RECORDS = 10  # records of a class on each side before its slice is attacked
ROC_POINTS = 400  # points of a displayed ROC curve at most
CONFIDENCE = 0.95


@dataclass(frozen=True, eq=False)
class Judged:
    """What one attack produced, ready to judge."""

    member_scores: np.ndarray
    nonmember_scores: np.ndarray
    member_flags: dict[float, np.ndarray]  # target FPR -> which members were flagged
    nonmember_flags: dict[float, np.ndarray]

    def restricted(self, members: np.ndarray, nonmembers: np.ndarray) -> Judged:
        """The same attack on the records the two masks keep."""
        return Judged(
            self.member_scores[members],
            self.nonmember_scores[nonmembers],
            {f: flags[members] for f, flags in self.member_flags.items()},
            {f: flags[nonmembers] for f, flags in self.nonmember_flags.items()},
        )


def separation(judged: Judged, resamples: int, permutations: int, seed: int) -> Separation:
    members, nonmembers = judged.member_scores, judged.nonmember_scores
    # Bonferroni across the target FPRs: the largest epsilon of them holds at CONFIDENCE.
    point_confidence = 1 - (1 - CONFIDENCE) / len(judged.member_flags)
    points = tuple(
        _point(fpr, judged.member_flags[fpr], judged.nonmember_flags[fpr], point_confidence)
        for fpr in judged.member_flags
    )
    epsilons = [p.epsilon_lower for p in points if p.epsilon_lower is not None]
    return Separation(
        members=members.size,
        nonmembers=nonmembers.size,
        auc=auc(members, nonmembers),
        auc_ci=auc_bootstrap_ci(members, nonmembers, resamples=resamples, seed=seed),
        p_value=auc_permutation_p(members, nonmembers, permutations=permutations, seed=seed),
        points=points,
        epsilon_lower=max(epsilons) if epsilons else None,
    )


def _point(
    fpr: float, member_flags: np.ndarray, nonmember_flags: np.ndarray, confidence: float
) -> OperatingPoint:
    needed = min_nonmembers(fpr)
    heldout = int(nonmember_flags.size)
    if heldout < needed:
        return OperatingPoint(fpr, heldout, needed, estimable=False)
    member_hits, nonmember_hits = int(member_flags.sum()), int(nonmember_flags.sum())
    members = int(member_flags.size)
    return OperatingPoint(
        target_fpr=fpr,
        heldout_nonmembers=heldout,
        needed_nonmembers=needed,
        estimable=True,
        member_hits=member_hits,
        nonmember_hits=nonmember_hits,
        tpr=member_hits / members,
        fpr=nonmember_hits / heldout,
        tpr_ci=clopper_pearson(member_hits, members, CONFIDENCE),
        fpr_ci=clopper_pearson(nonmember_hits, heldout, CONFIDENCE),
        epsilon_lower=epsilon_lower_bound(
            member_hits, members, nonmember_hits, heldout, confidence
        ),
    )


def roc_curve(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> RocCurve:
    """The empirical ROC over every distinct threshold (no threshold is fitted: it is the
    curve of all of them), thinned to about ROC_POINTS points spaced evenly in log FPR so
    that the low-FPR end a log-log plot shows keeps its detail."""
    scores = np.concatenate([member_scores, nonmember_scores])
    is_member = np.concatenate([np.ones(member_scores.size), np.zeros(nonmember_scores.size)])
    order = np.argsort(-scores, kind="stable")
    scores, is_member = scores[order], is_member[order]
    last_of_tie = np.r_[np.diff(scores) != 0, True]  # a threshold between distinct scores
    tpr = np.r_[0.0, np.cumsum(is_member)[last_of_tie] / member_scores.size]
    fpr = np.r_[0.0, np.cumsum(1 - is_member)[last_of_tie] / nonmember_scores.size]
    keep = _thinned(fpr)
    return RocCurve(tuple(float(v) for v in fpr[keep]), tuple(float(v) for v in tpr[keep]))


def _thinned(fpr: np.ndarray) -> np.ndarray:
    if fpr.size <= ROC_POINTS:
        return np.arange(fpr.size)
    positive = fpr[fpr > 0]
    floor = positive.min() if positive.size else 1.0
    grid = np.geomspace(floor, 1.0, ROC_POINTS)
    picked = np.searchsorted(fpr, grid, side="right") - 1
    return np.unique(np.r_[0, picked, fpr.size - 1])


def exposed_records(
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    labels: np.ndarray | None,
    indices: np.ndarray,
) -> tuple[ExposedRecord, ...]:
    """The members scoring highest, each with the share of non-members scoring at least as
    high; INDICES maps a row back to its index in the given members set."""
    top = np.argsort(-member_scores, kind="stable")[:EXPOSED_RECORDS]
    ordered = np.sort(nonmember_scores)
    records = []
    for row in top:
        at_least = ordered.size - np.searchsorted(ordered, member_scores[row], side="left")
        records.append(
            ExposedRecord(
                index=int(indices[row]),
                label=None if labels is None else int(labels[row]),
                score=float(member_scores[row]),
                nonmember_share=float(at_least / ordered.size),
            )
        )
    return tuple(records)


def class_slices(
    judged: dict[str, Judged],
    member_labels: np.ndarray,
    nonmember_labels: np.ndarray,
    resamples: int,
    permutations: int,
    seed: int,
) -> tuple[ClassSlice, ...]:
    """Every class in either set, its records attacked under the same rules (the thresholds
    stay the ones fitted on all held-out non-members: a class's own FPR at them is shown)."""
    slices = []
    for label in np.union1d(member_labels, nonmember_labels):
        in_members, in_nonmembers = member_labels == label, nonmember_labels == label
        counts = int(in_members.sum()), int(in_nonmembers.sum())
        if min(counts) < MIN_SLICE_RECORDS:
            reason = (
                f"{counts[0]} member(s) and {counts[1]} non-member(s) of this class; a slice "
                f"needs {MIN_SLICE_RECORDS} of each"
            )
            slices.append(ClassSlice(int(label), *counts, reason=reason))
            continue
        attacks = {
            name: separation(
                attack.restricted(in_members, in_nonmembers), resamples, permutations, seed
            )
            for name, attack in judged.items()
        }
        slices.append(ClassSlice(int(label), *counts, attacks=attacks))
    return tuple(slices)
