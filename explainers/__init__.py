"""Attribution methods over Captum, explanation-quality metrics, attention capture.

Filled in by the issues "Attributions that can be trusted" and "Attention inspection";
imports only ``harness.core``.

Public surface (imported lazily, so ``import explainers`` loads neither torch nor Captum):

    Explainer, AttributionRequest, AttributionOutput, MethodNotApplicableError
                                    one method's contract (explainers/methods/base.py)
    METHODS, method_names, get_method, check_method_names, default_methods
                                    the registry and the default set per budget
    Baseline, make_baseline         the reference input per modality
    Target, predicted_class, fixed_class, scalar_output, reconstruction_error,
    ReconstructionError             what is attributed
    BatchPlan, choose_batch, with_oom_halving
                                    batch sizes from a memory budget, halving on OOM
    block_feature_mask, default_feature_mask
                                    superpixel masks for perturbation methods
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.explainers.methods.base import (
        AttributionOutput,
        AttributionRequest,
        Explainer,
        MethodNotApplicableError,
    )
    from harness.explainers.methods.baselines import Baseline, make_baseline
    from harness.explainers.methods.batching import BatchPlan, choose_batch, with_oom_halving
    from harness.explainers.methods.feature_masks import block_feature_mask, default_feature_mask
    from harness.explainers.methods.registry import (
        METHODS,
        check_method_names,
        default_methods,
        get_method,
        method_names,
    )
    from harness.explainers.methods.targets import (
        ReconstructionError,
        Target,
        fixed_class,
        predicted_class,
        reconstruction_error,
        scalar_output,
    )

_LAZY = {
    "AttributionOutput": "harness.explainers.methods.base",
    "AttributionRequest": "harness.explainers.methods.base",
    "Explainer": "harness.explainers.methods.base",
    "MethodNotApplicableError": "harness.explainers.methods.base",
    "Baseline": "harness.explainers.methods.baselines",
    "make_baseline": "harness.explainers.methods.baselines",
    "BatchPlan": "harness.explainers.methods.batching",
    "choose_batch": "harness.explainers.methods.batching",
    "with_oom_halving": "harness.explainers.methods.batching",
    "block_feature_mask": "harness.explainers.methods.feature_masks",
    "default_feature_mask": "harness.explainers.methods.feature_masks",
    "METHODS": "harness.explainers.methods.registry",
    "check_method_names": "harness.explainers.methods.registry",
    "default_methods": "harness.explainers.methods.registry",
    "get_method": "harness.explainers.methods.registry",
    "method_names": "harness.explainers.methods.registry",
    "ReconstructionError": "harness.explainers.methods.targets",
    "Target": "harness.explainers.methods.targets",
    "fixed_class": "harness.explainers.methods.targets",
    "predicted_class": "harness.explainers.methods.targets",
    "reconstruction_error": "harness.explainers.methods.targets",
    "scalar_output": "harness.explainers.methods.targets",
}

__all__ = [
    "METHODS",
    "AttributionOutput",
    "AttributionRequest",
    "Baseline",
    "BatchPlan",
    "Explainer",
    "MethodNotApplicableError",
    "ReconstructionError",
    "Target",
    "block_feature_mask",
    "check_method_names",
    "choose_batch",
    "default_feature_mask",
    "default_methods",
    "fixed_class",
    "get_method",
    "make_baseline",
    "method_names",
    "predicted_class",
    "reconstruction_error",
    "scalar_output",
    "with_oom_halving",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'explainers' has no attribute {name!r}")
