"""Guided Backpropagation (Springenberg et al. 2015): gradients with negative values
zeroed at every ReLU on the way back. Known to barely depend on the upper layers'
weights, so it fails the model-randomisation sanity check (Adebayo et al. 2018); it is
kept so the scorecard can show that. Hooks the ReLU modules: the forward must be an
``nn.Module``."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
    hook_notices_silenced,
)

__all__ = ["GuidedBackpropExplainer"]


class GuidedBackpropExplainer(Explainer):
    NAME = "guided_backprop"
    needs_gradients = True
    needs_module = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {}
    MODALITY_HINT = "Captum has no layer variant for the embedding; use saliency"

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import GuidedBackprop

        with hook_notices_silenced():
            attributions = GuidedBackprop(request.forward).attribute(
                request.attributed,
                target=request.target,
                additional_forward_args=request.additional_forward_args,
            )
        return RawAttribution(attributions)
