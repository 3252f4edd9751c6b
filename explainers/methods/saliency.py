"""Saliency (Simonyan et al. 2014): the gradient of the target with respect to the input,
by default its absolute value. On token ids: the gradient at the embedding output
(Captum's LayerGradientXActivation without the activation factor), summed per token."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
    single_tensor,
)

__all__ = ["SaliencyExplainer"]


class SaliencyExplainer(Explainer):
    NAME = "saliency"
    needs_gradients = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"abs": True}

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        take_abs = bool(self.parameters["abs"])
        if request.modality == "tokens":
            from captum.attr import LayerGradientXActivation

            method = LayerGradientXActivation(
                request.forward, request.layer, multiply_by_inputs=False
            )
            gradients = single_tensor(
                method.attribute(
                    request.attributed,
                    target=request.target,
                    additional_forward_args=request.additional_forward_args,
                ),
                self.NAME,
            )
            gradients = gradients.abs() if take_abs else gradients
            note = "gradient at the embedding output, " + ("|.| " if take_abs else "")
            return RawAttribution(gradients, None, {"token_reduction": note + "summed per token"})
        from captum.attr import Saliency

        attributions = Saliency(request.forward).attribute(
            request.attributed,
            target=request.target,
            abs=take_abs,
            additional_forward_args=request.additional_forward_args,
        )
        return RawAttribution(attributions)
