"""The statistics of a membership-inference audit: how well an attack's scores separate
members from non-members, with intervals that do not flatter it.

Pure functions of score arrays (a higher score means "more likely a member"); no result
types, no I/O. The two-sample timing tests and the one-sample bootstrap live beside these
in ``harness.core.stats``; this module is its sibling for scores.

    auc                    ROC AUC (Mann-Whitney, ties counted half)
    auc_bootstrap_ci       percentile bootstrap 95% interval, members and non-members
                           resampled separately (stratified), so every replicate keeps both
    auc_permutation_p      one-sided p-value that AUC > 0.5, membership labels shuffled
    two_folds              a seeded, balanced 0/1 fold per record
    threshold_at_fpr       the threshold that flags at most FPR of the non-members it sees
    cross_fit_flags        thresholds fitted on one fold's non-members, applied to the other
                           fold's records only, both ways round (2-fold cross-fitting)
    clopper_pearson        the exact binomial interval
    epsilon_lower_bound    the differential-privacy epsilon that a (TPR, FPR) pair rules out
    min_nonmembers         how many held-out non-members an FPR needs to be estimable
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from harness.core.stats import PERMUTATIONS

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "EXPECTED_FALSE_POSITIVES",
    "auc",
    "auc_bootstrap_ci",
    "auc_permutation_p",
    "clopper_pearson",
    "cross_fit_flags",
    "epsilon_lower_bound",
    "min_nonmembers",
    "threshold_at_fpr",
    "two_folds",
]

BOOTSTRAP_RESAMPLES = 1000
# An FPR is estimable only when the held-out non-members would give at least this many false
# positives at that rate (n * FPR >= 10): below it the achieved FPR is a handful of records,
# and a TPR "at 0.1% FPR" from 500 non-members is a TPR at 0 or 0.2% FPR.
EXPECTED_FALSE_POSITIVES = 10
_MAX_VALUES = 4_000_000  # values held at once by a bootstrap or permutation chunk


def auc(member_scores: ArrayLike, nonmember_scores: ArrayLike) -> float:
    """P(member score > non-member score) + P(equal) / 2: the ROC AUC, by ranks."""
    members, nonmembers = _scores(member_scores), _scores(nonmember_scores)
    return float(_auc_rows(members[None, :], nonmembers[None, :])[0])


def auc_bootstrap_ci(
    member_scores: ArrayLike,
    nonmember_scores: ArrayLike,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUC; each replicate draws the members and the
    non-members with replacement, each group its own size (a stratified bootstrap).

    A resample is drawn as how many times each record is picked (multinomial counts, the
    same distribution as drawing indices), so a replicate's AUC is a weighted count over
    the sorted non-members: O(n) a replicate instead of re-ranking the pooled scores."""
    members, nonmembers = _scores(member_scores), _scores(nonmember_scores)
    ordered = np.sort(nonmembers)
    below = np.searchsorted(ordered, members, side="left")  # non-members under each member
    up_to = np.searchsorted(ordered, members, side="right")  # ... under or tied
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_VALUES // (members.size + nonmembers.size))
    replicates = []
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        member_weights = _resample_counts(rng, members.size, count)
        cumulative = np.zeros((count, ordered.size + 1))
        np.cumsum(_resample_counts(rng, ordered.size, count), axis=1, out=cumulative[:, 1:])
        wins = cumulative[:, below] + 0.5 * (cumulative[:, up_to] - cumulative[:, below])
        total = (member_weights * wins).sum(axis=1)
        replicates.append(total / (members.size * ordered.size))
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(np.concatenate(replicates), [tail, 1.0 - tail])
    return float(low), float(high)


def auc_permutation_p(
    member_scores: ArrayLike,
    nonmember_scores: ArrayLike,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> float:
    """One-sided p-value of "AUC > 0.5": the share of random relabellings of the pooled
    records (as many "members" as there are) whose AUC is at least the observed one, with
    the +1 correction, so it is never below 1 / (permutations + 1)."""
    from scipy.stats import rankdata

    members, nonmembers = _scores(member_scores), _scores(nonmember_scores)
    ranks = rankdata(np.concatenate([members, nonmembers]))
    observed = _auc_from_rank_sum(float(ranks[: members.size].sum()), members.size, nonmembers)
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_VALUES // ranks.size)
    extreme = 0
    for start in range(0, permutations, rows):
        count = min(rows, permutations - start)
        shuffled = rng.permuted(np.broadcast_to(ranks, (count, ranks.size)), axis=1)
        sums = shuffled[:, : members.size].sum(axis=1)
        shuffled_auc = (sums - members.size * (members.size + 1) / 2) / (
            members.size * nonmembers.size
        )
        # A tolerance: the same rank sum must count as "as extreme" whatever the rounding.
        extreme += int(np.count_nonzero(shuffled_auc >= observed - 1e-12))
    return (extreme + 1) / (permutations + 1)


def two_folds(count: int, seed: int) -> np.ndarray:
    """A 0/1 fold for each of COUNT records: half of them (the odd one out in fold 1) in
    each, in a seeded random order."""
    folds = np.arange(count) % 2
    return np.random.default_rng(seed).permutation(folds)


def threshold_at_fpr(nonmember_scores: ArrayLike, fpr: float) -> float:
    """The least threshold T for which "score > T" flags at most FPR of NONMEMBER_SCORES:
    the (k+1)-th largest score, k = floor(FPR * n) (ties only flag fewer)."""
    ordered = np.sort(_scores(nonmember_scores))[::-1]
    allowed = math.floor(fpr * ordered.size + 1e-9)
    return float(ordered[min(allowed, ordered.size - 1)])


def cross_fit_flags(
    member_scores: ArrayLike,
    nonmember_scores: ArrayLike,
    member_folds: np.ndarray,
    nonmember_folds: np.ndarray,
    fpr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which members and which non-members are flagged when each fold's records are judged
    by the threshold fitted (``threshold_at_fpr``) on the other fold's non-members only.

    No record is ever judged by a threshold its own score helped choose, so the flagged
    non-members count the FPR the attack really reaches on unseen data; and every record is
    judged once, so the held-out count is all the non-members, not half.
    """
    members, nonmembers = _scores(member_scores), _scores(nonmember_scores)
    member_flags = np.zeros(members.size, dtype=bool)
    nonmember_flags = np.zeros(nonmembers.size, dtype=bool)
    for fold in (0, 1):
        threshold = threshold_at_fpr(nonmembers[nonmember_folds != fold], fpr)
        judged_members, judged_nonmembers = member_folds == fold, nonmember_folds == fold
        member_flags[judged_members] = members[judged_members] > threshold
        nonmember_flags[judged_nonmembers] = nonmembers[judged_nonmembers] > threshold
    return member_flags, nonmember_flags


def min_nonmembers(fpr: float) -> int:
    """Held-out non-members needed before a TPR at FPR is estimable: 10 / FPR."""
    return math.ceil(EXPECTED_FALSE_POSITIVES / fpr - 1e-9)


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a binomial proportion:
    lower = Beta(a/2; k, n-k+1) quantile (0 when k = 0), upper = Beta(1-a/2; k+1, n-k)
    quantile (1 when k = n), a = 1 - confidence."""
    from scipy.stats import beta

    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes in {trials} trials is not a proportion")
    tail = (1.0 - confidence) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = (
        1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    )
    return low, high


def epsilon_lower_bound(
    member_hits: int,
    members: int,
    nonmember_hits: int,
    nonmembers: int,
    confidence: float = 0.95,
) -> float:
    """The epsilon of (epsilon, 0)-differential privacy that an attack's counts rule out.

    An (eps, 0)-DP training algorithm bounds every membership test by TPR <= e^eps * FPR and
    TNR <= e^eps * FNR (Kairouz et al. 2015; used to audit DP training by Jagielski et al.
    2020 and Nasr et al. 2021). From the counts:

        TPR_lo = lower end of the two-sided CONFIDENCE Clopper-Pearson interval of
                 member_hits / members
        FPR_hi = upper end of that interval of nonmember_hits / nonmembers
        eps_lo = max(0, log(TPR_lo / FPR_hi), log((1 - FPR_hi) / (1 - TPR_lo)))

    Each end is a one-sided bound at (1 + CONFIDENCE) / 2, so both hold together with
    probability at least CONFIDENCE (union bound): with that confidence, no training with
    a smaller epsilon could have produced these counts. A lower bound only: it says nothing
    about the epsilon an attack that was not run would find.
    """
    tpr_low, _ = clopper_pearson(member_hits, members, confidence)
    _, fpr_high = clopper_pearson(nonmember_hits, nonmembers, confidence)
    bounds = [0.0]
    if tpr_low > 0:
        bounds.append(math.log(tpr_low / fpr_high))
    if tpr_low < 1 and fpr_high < 1:
        bounds.append(math.log((1 - fpr_high) / (1 - tpr_low)))
    return max(bounds)


def _resample_counts(rng: np.random.Generator, size: int, rows: int) -> np.ndarray:
    """ROWS bootstrap resamples of SIZE records, as how often each record is drawn."""
    return rng.multinomial(size, np.full(size, 1.0 / size), size=rows).astype(np.float64)


def _auc_rows(members: np.ndarray, nonmembers: np.ndarray) -> np.ndarray:
    """The AUC of each row pair (members[i], nonmembers[i]), from the rank sum of the
    members among the pooled row (average ranks for ties)."""
    from scipy.stats import rankdata

    pooled = np.concatenate([members, nonmembers], axis=1)
    ranks = rankdata(pooled, axis=1)
    n_members, n_nonmembers = members.shape[1], nonmembers.shape[1]
    sums = ranks[:, :n_members].sum(axis=1)
    return (sums - n_members * (n_members + 1) / 2) / (n_members * n_nonmembers)


def _auc_from_rank_sum(rank_sum: float, n_members: int, nonmembers: np.ndarray) -> float:
    return (rank_sum - n_members * (n_members + 1) / 2) / (n_members * nonmembers.size)


def _scores(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError("a score set is empty")
    if not np.isfinite(array).all():
        raise ValueError("scores hold NaN or infinite values")
    return array
