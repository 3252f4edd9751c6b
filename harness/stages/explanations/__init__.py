"""The explanations stage: Captum attributions on the model, each scored for faithfulness,
robustness and sanity beside a random baseline.

    stage.py     the stage itself: every planned method attributed, scored and checked
    budget.py    BUDGETS: samples, IG steps, MPRT depth, metric draws, the deadline
    plan.py      the attributed input, the samples (from intake), which methods (with skip
                 reasons)
    backends.py  the module, the onnxruntime session and the PyTorch twin as forwards;
                 the layers layer methods use
    cascades.py  the randomisation cascades of the sanity test, on a module or the twin
    setup.py     what every method shares: target, baseline, batching, scoring inputs
    scoring.py   the scorecard of one set of attributions
    sanity.py    the cascading model-randomisation test of one method
    timing.py    the deadline, and the sample and step counts that fit it
    display.py   the first samples' attributions and inputs, reduced for the report

Cheap to import: ``run`` imports the stage, and with it torch and Captum, only when the
stage runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.stages.explanations.budget import BUDGETS

if TYPE_CHECKING:
    from harness.core.explanations import ExplanationsSection
    from harness.stages.context import AuditContext

__all__ = ["BUDGETS", "run"]


def run(context: AuditContext) -> ExplanationsSection:
    """The explanations section of ``context``'s model."""
    from harness.stages.explanations.stage import explanations_stage

    return explanations_stage(context)
