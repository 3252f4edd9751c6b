"""How much the explanations stage may do, per ``--budget``: samples, path steps, the
randomisation test's depth, the metrics' draws, and the stage's deadline (``timing.py``
says how it is kept)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.budget import BudgetTable

__all__ = ["BUDGETS", "ExplanationsBudget"]


@dataclass(frozen=True)
class ExplanationsBudget:
    samples: int  # samples explained (--samples overrides)
    n_steps: int  # path steps of the integrated-gradients family
    mprt_layers: int | None  # cascade depth of the randomisation test; None = every layer
    infidelity_perturbations: int  # perturbations per sample of the infidelity metric
    sensitivity_perturbations: int  # max-sensitivity draws per sample (fewer if short of time)
    sensitivity_samples: int  # max-sensitivity re-runs the method: on the first few samples
    faithfulness_subsets: int  # feature subsets removed per sample (faithfulness correlation)
    curve_steps: int  # deletion / insertion points
    shown: int  # samples whose attributions the result keeps for the report
    memory_budget_bytes: int  # what batching may use
    seconds: float  # the stage's deadline (timing.py says how it is kept)


BUDGETS: BudgetTable[ExplanationsBudget] = BudgetTable(
    quick=ExplanationsBudget(
        samples=4, n_steps=16, mprt_layers=3, infidelity_perturbations=8,
        sensitivity_perturbations=3, sensitivity_samples=2, faithfulness_subsets=20,
        curve_steps=10, shown=4, memory_budget_bytes=512 << 20, seconds=60.0,
    ),
    standard=ExplanationsBudget(
        samples=8, n_steps=32, mprt_layers=6, infidelity_perturbations=16,
        sensitivity_perturbations=5, sensitivity_samples=4, faithfulness_subsets=40,
        curve_steps=20, shown=4, memory_budget_bytes=1 << 30, seconds=240.0,
    ),
    thorough=ExplanationsBudget(
        samples=16, n_steps=50, mprt_layers=None, infidelity_perturbations=32,
        sensitivity_perturbations=10, sensitivity_samples=8, faithfulness_subsets=50,
        curve_steps=32, shown=4, memory_budget_bytes=2 << 30, seconds=1200.0,
    ),
)  # fmt: skip
