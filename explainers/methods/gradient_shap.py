"""GradientShap (Lundberg & Lee 2017, Captum's expected-gradients form): the expected
value of gradient x (input - baseline) over baselines drawn from ``request.baseline``'s
rows and points drawn uniformly on the path, with optional Gaussian noise on the input.

Completeness holds only in expectation, so no per-sample convergence delta is reported.
Token ids cannot take noise or interpolation, so token inputs are not supported."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)

__all__ = ["GradientShapExplainer"]


class GradientShapExplainer(Explainer):
    NAME = "gradient_shap"
    needs_gradients = True
    multiplies_by_inputs = True
    is_stochastic = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"n_samples": 20, "stdevs": 0.0}
    MODALITY_HINT = "Captum's LayerGradientShap adds noise to the ids themselves; use deeplift"

    def _check_parameters(self) -> None:
        self._positive("n_samples")
        if float(self.parameters["stdevs"]) < 0:
            raise ValueError(
                f"gradient_shap parameter 'stdevs' must be >= 0, got {self.parameters['stdevs']!r}"
            )

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import GradientShap

        baselines = request.baseline
        if baselines.shape != request.attributed.shape:
            baselines = baselines.expand_as(request.attributed)
        attributions = GradientShap(request.forward).attribute(
            request.attributed,
            baselines=baselines,
            n_samples=int(self.parameters["n_samples"]),
            stdevs=float(self.parameters["stdevs"]),
            target=request.target,
            additional_forward_args=request.additional_forward_args,
        )
        used = {"baseline_distribution": f"the {baselines.shape[0]} rows of the baseline"}
        return RawAttribution(attributions, None, used)
