"""The explanations stage: Captum attributions on the model, each scored for faithfulness,
robustness and sanity beside a random baseline (see ``stage``).

    plan.py      budget, attributed input, samples, which methods (with skip reasons)
    backends.py  the module, the onnxruntime session and the PyTorch twin as forwards;
                 the layers layer methods use; the randomisation cascades
    setup.py     what every method shares: target, baseline, batching, scoring inputs
    scoring.py   the scorecard of one set of attributions
    sanity.py    the cascading model-randomisation test of one method
    timing.py    the deadline, and the sample and step counts that fit it
    display.py   the first samples' attributions and inputs, reduced for the report
    stage.py     the stage itself

Imports torch and Captum: ``harness.stages.runner`` imports this package only when the stage runs.
"""

from harness.stages.explanations.stage import explanations_stage

__all__ = ["explanations_stage"]
