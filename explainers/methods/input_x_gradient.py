"""InputXGradient (Shrikumar et al. 2016): input times the gradient of the target. On token
ids: embedding output times the gradient there (Captum's LayerGradientXActivation),
summed per token."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
    single_tensor,
)

__all__ = ["InputXGradientExplainer"]


class InputXGradientExplainer(Explainer):
    NAME = "input_x_gradient"
    needs_gradients = True
    multiplies_by_inputs = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {}

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        if request.modality == "tokens":
            from captum.attr import LayerGradientXActivation

            method = LayerGradientXActivation(request.forward, request.layer)
            attributions = single_tensor(
                method.attribute(
                    request.attributed,
                    target=request.target,
                    additional_forward_args=request.additional_forward_args,
                ),
                self.NAME,
            )
            note = "embedding output x gradient there, summed per token"
            return RawAttribution(attributions, None, {"token_reduction": note})
        from captum.attr import InputXGradient

        attributions = InputXGradient(request.forward).attribute(
            request.attributed,
            target=request.target,
            additional_forward_args=request.additional_forward_args,
        )
        return RawAttribution(attributions)
