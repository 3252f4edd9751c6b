"""Kernel SHAP (Lundberg & Lee 2017): a weighted linear model fitted to ``n_samples``
random coalitions of features (absent features set to the baseline), weighted by the
Shapley kernel; its coefficients are the attributions. One model per sample."""

from __future__ import annotations

import warnings
from typing import ClassVar

from harness.explainers.methods._perturbation import masked_perturbation_args, perturbation_record
from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)

__all__ = ["KernelShapExplainer"]


class KernelShapExplainer(Explainer):
    NAME = "kernel_shap"
    is_stochastic = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"n_samples": 200}

    def _check_parameters(self) -> None:
        self._positive("n_samples")

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import KernelShap

        with warnings.catch_warnings():
            # Captum warns that a batch trains one model per sample: that is intended.
            warnings.filterwarnings("ignore", message=".*multiple inputs for Lime")
            attributions = KernelShap(request.forward).attribute(
                request.attributed,
                **masked_perturbation_args(request),
                n_samples=int(self.parameters["n_samples"]),
            )
        used = {
            "interpretable_model": "linear regression (scikit-learn)",
            **perturbation_record(request),
        }
        return RawAttribution(attributions, None, used)
