"""The efficiency stage: latency, throughput, memory, cold start, FLOPs and roofline.

    stage.py          the stage: plans the backend runs, measures each in a subprocess, keeps
                      what a pass stopped at its time limit had recorded
    budget.py         BUDGETS: what each --budget may spend (the A/B mode's rounds too)
    worker.py         the measuring subprocess: cold start, latency, peak, op profile, sweep,
                      memory; planned within the budget's pass time
    protocol.py       what the stage and the worker say to each other (JSON)
    sampling.py       the timing loops: warm-up, then sampling until the median is pinned
    stats.py          pure math over raw samples: percentiles, bootstrap CIs, stopping rules
    memory.py         peak resident memory of a block of code
    ort_backend.py    onnxruntime as a backend: sessions, timed calls, op profiler, peak
    torch_backend.py  PyTorch eager as a backend: the same, on a module
    flops.py          the arithmetic of one inference, from an ONNX graph or a module
    ab.py             gate --ab: two models timed interleaved in one process

Cheap to import: ``run`` imports the stage itself only when the stage runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.stages.efficiency.budget import BUDGETS

if TYPE_CHECKING:
    from harness.core.efficiency import EfficiencySection
    from harness.stages.context import AuditContext

__all__ = ["BUDGETS", "run"]


def run(context: AuditContext) -> EfficiencySection:
    """The efficiency section of ``context``'s model."""
    from harness.stages.efficiency.stage import efficiency_stage

    return efficiency_stage(context)
