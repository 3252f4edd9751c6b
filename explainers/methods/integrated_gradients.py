"""Integrated Gradients (Sundararajan et al. 2017): the path integral of gradients from
the baseline to the input, times (input - baseline). Complete: the attributions sum to
f(x) - f(baseline) up to the reported convergence delta."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)

__all__ = ["INTEGRATION_METHODS", "IntegratedGradientsExplainer"]

# Captum's quadrature rules for the path integral.
INTEGRATION_METHODS = (
    "gausslegendre",
    "riemann_trapezoid",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
)


class IntegratedGradientsExplainer(Explainer):
    NAME = "integrated_gradients"
    needs_gradients = True
    has_convergence_delta = True
    multiplies_by_inputs = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"n_steps": 50, "method": "gausslegendre"}
    MODALITY_HINT = (
        "token ids have no path to integrate along; use layer_integrated_gradients "
        "(IG at the embedding output)"
    )

    def _check_parameters(self) -> None:
        self._positive("n_steps")
        self._choice("method", INTEGRATION_METHODS)

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import IntegratedGradients

        attributions, delta = IntegratedGradients(request.forward).attribute(
            request.attributed,
            baselines=request.baseline,
            target=request.target,
            additional_forward_args=request.additional_forward_args,
            n_steps=int(self.parameters["n_steps"]),
            method=str(self.parameters["method"]),
            internal_batch_size=request.rows_per_pass(),
            return_convergence_delta=True,
        )
        return RawAttribution(
            attributions, delta, {"internal_batch_size": request.rows_per_pass() or 0}
        )
