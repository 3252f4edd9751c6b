"""FeatureAblation: replace each feature (a group of ``request.feature_mask``, or each
element) with the baseline, one at a time, and attribute the output change to it."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods._perturbation import masked_perturbation_args, perturbation_record
from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)

__all__ = ["FeatureAblationExplainer"]


class FeatureAblationExplainer(Explainer):
    NAME = "feature_ablation"
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {}

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import FeatureAblation

        attributions = FeatureAblation(request.forward).attribute(
            request.attributed,
            **masked_perturbation_args(request),
        )
        return RawAttribution(attributions, None, perturbation_record(request))
