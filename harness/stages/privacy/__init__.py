"""The privacy stage: membership-inference attacks from the model's outputs alone.

    stage.py     the stage itself: records, outputs, attacks, statistics, the section
    budget.py    BUDGETS: records attacked per side, bootstrap resamples, permutations
    outputs.py   the records fed in chunks, the class-score output found and normalised
    attacks.py   the score-threshold attacks: loss, confidence, entropy, modified entropy
    qmia.py      the calibrated attack: quantile regressions on held-out non-members
    judge.py     an attack's scores and flags -> Separation, ROC, exposed records, slices

Cheap to import: ``run`` imports the stage, and with it numpy and scikit-learn, only when
the stage runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.stages.privacy.budget import BUDGETS

if TYPE_CHECKING:
    from harness.core.privacy import PrivacySection
    from harness.stages.context import AuditContext

__all__ = ["BUDGETS", "run"]


def run(context: AuditContext) -> PrivacySection:
    """The privacy section of ``context``'s model."""
    from harness.stages.privacy.stage import privacy_stage

    return privacy_stage(context)
