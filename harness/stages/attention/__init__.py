"""The attention stage: capture, check and read every attention map.

    stage.py     the stage itself: capture, then the section (or why it is skipped)
    budget.py    BUDGETS: samples captured, samples ablated, heads ablated at most
    feed.py      the samples fed in batches, their capture, runtime failures as StageError
    analysis.py  per layer and head: checks, statistics, rollout, ground-truth AUROC
    ablation.py  head importance, each head zeroed in turn (or why not)
    display.py   the first samples' maps, reduced for the report

Cheap to import: ``run`` imports the stage, and with it the capture machinery, only when
the stage runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.stages.attention.budget import BUDGETS

if TYPE_CHECKING:
    from harness.core.attention import AttentionSection
    from harness.stages.context import AuditContext

__all__ = ["BUDGETS", "run"]


def run(context: AuditContext) -> AttentionSection:
    """The attention section of ``context``'s model."""
    from harness.stages.attention.stage import attention_stage

    return attention_stage(context)
