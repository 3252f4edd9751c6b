"""How much the privacy stage may attack and resample, per ``--budget``."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.budget import BudgetTable

__all__ = ["BUDGETS", "PrivacyBudget"]


@dataclass(frozen=True)
class PrivacyBudget:
    # Records attacked on each side at most; more given: a seeded random subset (noted).
    max_records: int
    resamples: int  # bootstrap resamples of each AUC
    permutations: int  # relabellings of each permutation p-value
    qmia_iterations: int  # boosting iterations of each quantile regression


BUDGETS: BudgetTable[PrivacyBudget] = BudgetTable(
    # quick keeps a zoo model's stage to a few seconds: 500 records a side still shows a
    # strong leak (AUC CI width about 0.06), not a TPR at 1% FPR (1000 non-members needed).
    quick=PrivacyBudget(max_records=500, resamples=200, permutations=200, qmia_iterations=30),
    standard=PrivacyBudget(max_records=2000, resamples=1000, permutations=1000, qmia_iterations=50),
    thorough=PrivacyBudget(
        max_records=20_000, resamples=2000, permutations=2000, qmia_iterations=100
    ),
)
