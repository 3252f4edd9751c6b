"""The ``privacy`` stage: can the model's outputs tell its training members apart?

    records    --members/--nonmembers, or a zoo model's own train/test splits (read during
               intake); a seeded random subset when a side holds more than the budget's cap
    outputs    class log-probabilities of every record (``outputs``)
    attacks    loss, confidence, entropy, modified entropy (``attacks``), and the calibrated
               QMIA-style attack (``qmia``); those needing labels are skipped without them
    judge      per attack: AUC [bootstrap CI], permutation p, TPR at 1% and 0.1% FPR on
               held-out non-members (2-fold cross-fitting), epsilon lower bound, the ROC,
               the members most exposed (indices only); per class, the same

Every draw is seeded from ``--seed``: the same records give the same section.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.core.membership_stats import cross_fit_flags, two_folds
from harness.core.privacy import ATTACK_NAMES, TARGET_FPRS, AttackResult, PrivacySection
from harness.stages.context import AuditContext
from harness.stages.privacy.attacks import SCORE_ATTACKS
from harness.stages.privacy.budget import BUDGETS, PrivacyBudget
from harness.stages.privacy.judge import (
    Judged,
    class_slices,
    exposed_records,
    roc_curve,
    separation,
)
from harness.stages.privacy.outputs import ClassScores, check_labels, class_probabilities
from harness.stages.privacy.qmia import MIN_FIT_RECORDS, Side, qmia_scores

__all__ = ["privacy_stage"]

_QMIA_DESCRIPTION = (
    "logit margin against the margin a quantile regression on held-out non-members "
    "expects for this record (QMIA-style, no shadow models)"
)


def privacy_stage(context: AuditContext) -> PrivacySection:
    budget_name = context.config.budget
    sets = context.membership
    if sets is None:
        reason = context.membership_missing or "no members and non-members to attack"
        return PrivacySection(status="skipped", reason=reason, budget=budget_name)
    budget = BUDGETS[budget_name]
    seed = context.config.seed
    not_done: dict[str, str] = {}
    members, member_index = _capped(
        sets.members, sets.member_labels, budget, seed, "members", not_done
    )
    nonmembers, _ = _capped(
        sets.nonmembers, sets.nonmember_labels, budget, seed + 1, "non-members", not_done
    )
    scores = class_probabilities(context, members.inputs, nonmembers.inputs)
    base = PrivacySection(
        status="skipped",
        budget=budget_name,
        source=sets.source,
        source_detail=sets.detail,
        members=members.count,
        nonmembers=nonmembers.count,
        members_available=sets.member_count,
        nonmembers_available=sets.nonmember_count,
        labelled=sets.member_labels is not None,
        seed=seed,
        resamples=budget.resamples,
        permutations=budget.permutations,
    )
    if isinstance(scores, str):
        return replace(base, reason=scores, not_done=not_done)
    classes = scores.members.shape[1]
    check_labels(members.labels, classes, "--members")
    check_labels(nonmembers.labels, classes, "--nonmembers")
    judged, attacks = _run_attacks(scores, members, nonmembers, budget, seed, member_index)
    slices = ()
    if members.labels is not None and nonmembers.labels is not None:
        slices = class_slices(
            judged, members.labels, nonmembers.labels, budget.resamples, budget.permutations, seed
        )
    else:
        not_done["per-class slices"] = "the records have no labels"
    return replace(
        base, status="ok", output=scores.output, attacks=attacks, slices=slices, not_done=not_done
    )


class _Records:
    """One side's records after the budget's cap: inputs, labels, fold of each record."""

    def __init__(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None, seed: int):
        self.inputs = inputs
        self.labels = labels
        self.count = len(next(iter(inputs.values())))
        self.folds = two_folds(self.count, seed)


def _capped(
    inputs: dict[str, np.ndarray],
    labels: np.ndarray | None,
    budget: PrivacyBudget,
    seed: int,
    side: str,
    not_done: dict[str, str],
) -> tuple[_Records, np.ndarray]:
    """The side's records (a seeded random subset past the cap) and each one's index in
    the given set."""
    count = len(next(iter(inputs.values())))
    index = np.arange(count)
    if count > budget.max_records:
        index = np.sort(
            np.random.default_rng(seed).choice(count, budget.max_records, replace=False)
        )
        not_done[f"all {side}"] = (
            f"a seeded random {budget.max_records} of the {count} {side} were attacked "
            "(the budget's cap; --budget thorough attacks more)"
        )
        inputs = {name: array[index] for name, array in inputs.items()}
        labels = None if labels is None else labels[index]
    # Folds are drawn from seeds of their own so that members' and non-members' differ.
    return _Records(inputs, labels, seed + 101), index


def _run_attacks(
    scores: ClassScores,
    members: _Records,
    nonmembers: _Records,
    budget: PrivacyBudget,
    seed: int,
    member_index: np.ndarray,
) -> tuple[dict[str, Judged], tuple[AttackResult, ...]]:
    judged: dict[str, Judged] = {}
    results: list[AttackResult] = []
    for attack in SCORE_ATTACKS:
        if attack.needs_labels and members.labels is None:
            results.append(
                _skipped(attack.name, attack.description, "needs labels; the records have none")
            )
            continue
        member_scores = attack.score(scores.members, members.labels)
        nonmember_scores = attack.score(scores.nonmembers, nonmembers.labels)
        judged[attack.name] = _threshold_attack(
            member_scores, nonmember_scores, members, nonmembers
        )
    qmia = _qmia(scores, members, nonmembers, budget, seed)
    if isinstance(qmia, str):
        results.append(_skipped("qmia", _QMIA_DESCRIPTION, qmia))
    else:
        judged["qmia"] = qmia
    descriptions = {a.name: a.description for a in SCORE_ATTACKS} | {"qmia": _QMIA_DESCRIPTION}
    for name, attack in judged.items():
        results.append(
            AttackResult(
                name=name,
                description=descriptions[name],
                status="ok",
                separation=separation(attack, budget.resamples, budget.permutations, seed),
                roc=roc_curve(attack.member_scores, attack.nonmember_scores),
                exposed=exposed_records(
                    attack.member_scores, attack.nonmember_scores, members.labels, member_index
                ),
            )
        )
    return judged, tuple(sorted(results, key=lambda r: ATTACK_NAMES.index(r.name)))


def _threshold_attack(
    member_scores: np.ndarray, nonmember_scores: np.ndarray, members: _Records, nonmembers: _Records
) -> Judged:
    member_flags, nonmember_flags = {}, {}
    for fpr in TARGET_FPRS:
        member_flags[fpr], nonmember_flags[fpr] = cross_fit_flags(
            member_scores, nonmember_scores, members.folds, nonmembers.folds, fpr
        )
    return Judged(member_scores, nonmember_scores, member_flags, nonmember_flags)


def _qmia(
    scores: ClassScores, members: _Records, nonmembers: _Records, budget: PrivacyBudget, seed: int
) -> Judged | str:
    smaller_fold = int(min((nonmembers.folds == 0).sum(), (nonmembers.folds == 1).sum()))
    if smaller_fold < MIN_FIT_RECORDS:
        return (
            f"{nonmembers.count} non-members: each fold's quantile regression needs "
            f"{MIN_FIT_RECORDS}, so at least {2 * MIN_FIT_RECORDS} are needed"
        )
    result = qmia_scores(
        Side(scores.members, members.labels, members.inputs, members.folds),
        Side(scores.nonmembers, nonmembers.labels, nonmembers.inputs, nonmembers.folds),
        TARGET_FPRS,
        budget.qmia_iterations,
        seed,
    )
    return Judged(result.members, result.nonmembers, result.member_flags, result.nonmember_flags)


def _skipped(name: str, description: str, reason: str) -> AttackResult:
    return AttackResult(name=name, description=description, status="skipped", reason=reason)
