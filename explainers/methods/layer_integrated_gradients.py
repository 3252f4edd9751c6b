"""Integrated Gradients at a layer's output (Captum's LayerIntegratedGradients) for token
ids: the path runs from the baseline tokens' embeddings to the input's, so integer ids
never need interpolating; attributions are summed over the embedding dim per token.
Complete like IG: they sum to f(x) - f(baseline) up to the convergence delta."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
    single_tensor,
)
from harness.explainers.methods.integrated_gradients import INTEGRATION_METHODS

__all__ = ["LayerIntegratedGradientsExplainer"]


class LayerIntegratedGradientsExplainer(Explainer):
    NAME = "layer_integrated_gradients"
    needs_gradients = True
    is_layer_method = True
    has_convergence_delta = True
    multiplies_by_inputs = True
    modalities: ClassVar[frozenset[str]] = frozenset({"tokens"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"n_steps": 50, "method": "gausslegendre"}
    MODALITY_HINT = "on float inputs use integrated_gradients"

    def _check_parameters(self) -> None:
        self._positive("n_steps")
        self._choice("method", INTEGRATION_METHODS)

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import LayerIntegratedGradients

        method = LayerIntegratedGradients(request.forward, request.layer)
        attributions, delta = method.attribute(
            request.attributed,
            baselines=request.baseline,
            target=request.target,
            additional_forward_args=request.additional_forward_args,
            n_steps=int(self.parameters["n_steps"]),
            method=str(self.parameters["method"]),
            internal_batch_size=request.rows_per_pass(),
            return_convergence_delta=True,
        )
        used: dict[str, ParameterValue] = {
            "layer": type(request.layer).__name__,
            "internal_batch_size": request.rows_per_pass() or 0,
            "token_reduction": "summed over the embedding dim per token",
        }
        return RawAttribution(single_tensor(attributions, self.NAME), delta, used)
