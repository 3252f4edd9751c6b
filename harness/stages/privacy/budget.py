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
    quick=PrivacyBudget(max_records=2000, resamples=200, permutations=200, qmia_iterations=50),
    standard=PrivacyBudget(
        max_records=10_000, resamples=1000, permutations=1000, qmia_iterations=100
    ),
    thorough=PrivacyBudget(
        max_records=50_000, resamples=2000, permutations=2000, qmia_iterations=200
    ),
)
