"""The names of what an audit attributes, shared by the config (``--target``), the result
(the explanations' and the head ablation's target kind) and the explainers that choose it
(``harness.explainers.methods.output_kinds``; README "Targets" documents each).

    OutputKind    what the first output is, as recognised from its shape, values and role
    TargetKind    what is attributed: a class (the predicted one, or K from --target K), a
                  single output, the reconstruction error, an embedding's norm or its cosine
                  with the unperturbed embedding, the summed map over the predicted region,
                  the decoded sequence's summed log-probability, the top detection's score
    TARGET_FORMS  the target kinds --target accepts by name (an integer K is the other form)
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["OUTPUT_KINDS", "TARGET_FORMS", "TARGET_KINDS", "OutputKind", "TargetKind"]

OutputKind = Literal[
    "classes", "scalar", "reconstruction", "embedding", "dense map", "sequence", "detections"
]
TargetKind = Literal[
    "predicted", "class", "output", "reconstruction", "norm", "cosine", "region", "sequence",
    "detection",
]  # fmt: skip
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
TARGET_FORMS = ("predicted", "norm", "cosine", "region", "sequence", "detection")
