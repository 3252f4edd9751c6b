"""Shapley Value Sampling (Castro et al. 2009): each feature's marginal contribution,
averaged over ``n_samples`` random feature orderings; features are added to the
baseline one by one. Costs n_samples x (features + 1) forward evaluations per sample."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods._perturbation import masked_perturbation_args, perturbation_record
from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)

__all__ = ["ShapleyValueSamplingExplainer"]


class ShapleyValueSamplingExplainer(Explainer):
    NAME = "shapley_value_sampling"
    is_stochastic = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"n_samples": 25}

    def _check_parameters(self) -> None:
        self._positive("n_samples")

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import ShapleyValueSampling

        attributions = ShapleyValueSampling(request.forward).attribute(
            request.attributed,
            **masked_perturbation_args(request),
            n_samples=int(self.parameters["n_samples"]),
        )
        return RawAttribution(attributions, None, perturbation_record(request))
