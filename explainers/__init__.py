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
    from explainers.methods.base import (
        AttributionOutput,
        AttributionRequest,
        Explainer,
        MethodNotApplicableError,
    )
    from explainers.methods.baselines import Baseline, make_baseline
    from explainers.methods.batching import BatchPlan, choose_batch, with_oom_halving
    from explainers.methods.feature_masks import block_feature_mask, default_feature_mask
    from explainers.methods.registry import (
        METHODS,
        check_method_names,
        default_methods,
        get_method,
        method_names,
    )
    from explainers.methods.targets import (
        ReconstructionError,
        Target,
        fixed_class,
        predicted_class,
        reconstruction_error,
        scalar_output,
    )

_LAZY = {
    "AttributionOutput": "explainers.methods.base",
    "AttributionRequest": "explainers.methods.base",
    "Explainer": "explainers.methods.base",
    "MethodNotApplicableError": "explainers.methods.base",
    "Baseline": "explainers.methods.baselines",
    "make_baseline": "explainers.methods.baselines",
    "BatchPlan": "explainers.methods.batching",
    "choose_batch": "explainers.methods.batching",
    "with_oom_halving": "explainers.methods.batching",
    "block_feature_mask": "explainers.methods.feature_masks",
    "default_feature_mask": "explainers.methods.feature_masks",
    "METHODS": "explainers.methods.registry",
    "check_method_names": "explainers.methods.registry",
    "default_methods": "explainers.methods.registry",
    "get_method": "explainers.methods.registry",
    "method_names": "explainers.methods.registry",
    "ReconstructionError": "explainers.methods.targets",
    "Target": "explainers.methods.targets",
    "fixed_class": "explainers.methods.targets",
    "predicted_class": "explainers.methods.targets",
    "reconstruction_error": "explainers.methods.targets",
    "scalar_output": "explainers.methods.targets",
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
