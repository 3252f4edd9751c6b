"""How much the attention stage may capture and ablate, per ``--budget``."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.budget import BudgetTable

__all__ = ["BUDGETS", "MAX_CAPTURE_BYTES", "AttentionBudget"]


@dataclass(frozen=True)
class AttentionBudget:
    samples: int  # task samples captured (a model without a task: the audit's inputs)
    ablation_samples: int  # samples each head is ablated on
    max_ablated_heads: int  # more heads than this in all: ablation is not done


BUDGETS: BudgetTable[AttentionBudget] = BudgetTable(
    quick=AttentionBudget(samples=8, ablation_samples=4, max_ablated_heads=64),
    standard=AttentionBudget(samples=32, ablation_samples=16, max_ablated_heads=256),
    thorough=AttentionBudget(samples=128, ablation_samples=64, max_ablated_heads=2048),
)
MAX_CAPTURE_BYTES = 512 << 20  # maps held at once, whatever the budget; fewer samples past it
