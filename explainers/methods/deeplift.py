"""DeepLift (Shrikumar et al. 2017), Captum's Rescale rule: contributions of
(input - baseline) propagated through multipliers at each nonlinearity. Hooks the
model's nonlinearity modules, so the forward must be an ``nn.Module`` whose ReLUs are
modules used once. On token ids: LayerDeepLift at the embedding output, summed per
token."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
    hook_notices_silenced,
    single_tensor,
)

__all__ = ["DeepLiftExplainer"]


class DeepLiftExplainer(Explainer):
    NAME = "deeplift"
    needs_gradients = True
    needs_module = True
    has_convergence_delta = True
    multiplies_by_inputs = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {}

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import DeepLift, LayerDeepLift

        common = {
            "baselines": request.baseline,
            "target": request.target,
            "additional_forward_args": request.additional_forward_args,
            "return_convergence_delta": True,
        }
        used: dict[str, ParameterValue] = {"rule": "rescale"}
        if request.modality == "tokens":
            layer_method = LayerDeepLift(request.forward, request.layer)
            with hook_notices_silenced():
                attributions, delta = layer_method.attribute(request.attributed, **common)
            used["token_reduction"] = "summed over the embedding dim per token"
            return RawAttribution(single_tensor(attributions, self.NAME), delta, used)
        method = DeepLift(request.forward)
        with hook_notices_silenced():
            attributions, delta = method.attribute(request.attributed, **common)
        return RawAttribution(attributions, delta, used)
