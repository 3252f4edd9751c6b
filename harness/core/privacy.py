"""The result's ``privacy`` section: can an attacker tell the training members from outputs?

Each attack scores every record (higher: "more likely a member"); ``Separation`` says how
well those scores separate the members from the non-members, with the rules of
``harness.core.membership_stats``: an AUC with a bootstrap CI and a permutation p-value,
and at each target FPR the TPR reached on non-members the threshold never saw (or "not
estimable"), with Clopper-Pearson intervals and the epsilon lower bound they imply.

Records are named by their index in the members or non-members set, never by their data.
No leakage found is never "private": it is "no membership leakage found by these attacks at
this sample size".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ATTACK_NAMES",
    "NOT_RUN",
    "TARGET_FPRS",
    "AttackResult",
    "ClassSlice",
    "ExposedRecord",
    "OperatingPoint",
    "PrivacySection",
    "RocCurve",
    "Separation",
    "fpr_key",
]

# Attacks in the order they run and are shown; headline metrics are privacy.<name>.*.
ATTACK_NAMES = ("loss", "confidence", "entropy", "modified_entropy", "qmia")
# The false-positive rates each attack is read at: LiRA's point (Carlini et al. 2022) is
# that an attack's power shows at low FPR, where the average (AUC) hides it.
TARGET_FPRS = (0.01, 0.001)

# The reason of the section a result written before the privacy stage existed reads with:
# not a skip to report, the stage did not exist.
NOT_RUN = "not run: the result predates the privacy stage"

StageStatus = Literal["ok", "skipped", "failed"]
MembershipSource = Literal["files", "task"]


def fpr_key(fpr: float) -> str:
    """0.01 -> "1pct", 0.001 -> "0.1pct": the metric-name form of a target FPR."""
    percent = fpr * 100
    text = f"{percent:g}"
    return f"{text}pct"


@dataclass(frozen=True)
class OperatingPoint:
    """An attack read at one target FPR, its threshold fitted on non-members it never judges."""

    target_fpr: float
    heldout_nonmembers: int  # non-members judged by a threshold fitted without them
    needed_nonmembers: int  # 10 / target_fpr: fewer held out and the point is not estimable
    estimable: bool
    member_hits: int | None = None  # members flagged
    nonmember_hits: int | None = None  # held-out non-members flagged
    tpr: float | None = None
    fpr: float | None = None  # achieved on the held-out non-members, not the target
    tpr_ci: tuple[float, float] | None = None  # 95% Clopper-Pearson
    fpr_ci: tuple[float, float] | None = None
    # log-bound on (eps, 0)-DP these counts rule out (membership_stats.epsilon_lower_bound),
    # at the Bonferroni-adjusted confidence of the section's ``epsilon_confidence``.
    epsilon_lower: float | None = None


@dataclass(frozen=True)
class Separation:
    """How well one attack's scores separate members from non-members."""

    members: int
    nonmembers: int
    auc: float
    auc_ci: tuple[float, float]  # 95% percentile bootstrap, stratified
    p_value: float  # one-sided permutation test of AUC > 0.5
    points: tuple[OperatingPoint, ...]
    # The largest epsilon_lower over the estimable points (each at the adjusted confidence,
    # so the maximum holds at the section's confidence); None when none is estimable.
    epsilon_lower: float | None = None


@dataclass(frozen=True)
class RocCurve:
    """The ROC curve of every member and non-member score, thinned for display (the
    low-FPR end kept in full)."""

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]


@dataclass(frozen=True)
class ExposedRecord:
    """A member an attack singles out most: its index, never its data."""

    index: int  # in the members set (--members' order, or the task's training split)
    label: int | None
    score: float
    # Share of non-members scoring at least as high: how unusual this score is for a record
    # the model never saw (the record's empirical p-value against the non-members).
    nonmember_share: float


@dataclass(frozen=True)
class AttackResult:
    name: str
    description: str
    status: StageStatus
    reason: str | None = None  # why skipped or failed
    separation: Separation | None = None
    roc: RocCurve | None = None
    exposed: tuple[ExposedRecord, ...] = ()


@dataclass(frozen=True)
class ClassSlice:
    """The attacks restricted to one class's records, under the same rules."""

    label: int
    members: int
    nonmembers: int
    attacks: dict[str, Separation] = field(default_factory=dict)  # attack name -> its slice
    reason: str | None = None  # why the slice has no attacks (too few records on a side)


@dataclass(frozen=True)
class PrivacySection:
    """The privacy stage: membership-inference attacks from the model's outputs alone."""

    status: StageStatus
    reason: str | None = None
    budget: str | None = None
    source: MembershipSource | None = None
    source_detail: str | None = None  # where the members and non-members came from, in words
    output: str | None = None  # the model output read as class scores
    members: int = 0  # records attacked (at most the budget's cap)
    nonmembers: int = 0
    members_available: int = 0  # records given before the budget's cap
    nonmembers_available: int = 0
    labelled: bool = False
    seed: int = 0
    resamples: int = 0  # bootstrap resamples of each AUC
    permutations: int = 0  # permutations of each p-value
    epsilon_confidence: float = 0.95
    attacks: tuple[AttackResult, ...] = ()
    slices: tuple[ClassSlice, ...] = ()
    not_done: dict[str, str] = field(default_factory=dict)  # step -> why it was not done

    def attack(self, name: str) -> AttackResult | None:
        return next((a for a in self.attacks if a.name == name), None)
