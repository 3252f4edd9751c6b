"""LIME (Ribeiro et al. 2016): a sparse linear model fitted to ``n_samples`` random
perturbations (features switched to the baseline with probability 1/2), weighted by
exp(-d^2 / (2 kernel_width^2)) with d the cosine distance to the input; its
coefficients are the attributions. One model per sample. ``interpretable_model`` is
``lasso`` (L1, strength ``alpha``) or ``linear`` (least squares)."""

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

__all__ = ["LimeExplainer"]

INTERPRETABLE_MODELS = ("lasso", "linear")


class LimeExplainer(Explainer):
    NAME = "lime"
    is_stochastic = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {
        "n_samples": 200,
        "interpretable_model": "lasso",
        "alpha": 0.01,
        "kernel_width": 1.0,
    }

    def _check_parameters(self) -> None:
        self._positive("n_samples", "alpha", "kernel_width")
        self._choice("interpretable_model", INTERPRETABLE_MODELS)

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum._utils.models.linear_model import SkLearnLasso, SkLearnLinearRegression
        from captum.attr import Lime
        from captum.attr._core.lime import get_exp_kernel_similarity_function

        surrogate = (
            SkLearnLasso(alpha=float(self.parameters["alpha"]))
            if self.parameters["interpretable_model"] == "lasso"
            else SkLearnLinearRegression()
        )
        similarity = get_exp_kernel_similarity_function(
            "cosine", kernel_width=float(self.parameters["kernel_width"])
        )
        lime = Lime(request.forward, interpretable_model=surrogate, similarity_func=similarity)
        with warnings.catch_warnings():
            # Captum warns that a batch trains one model per sample: that is intended.
            warnings.filterwarnings("ignore", message=".*multiple inputs for Lime")
            attributions = lime.attribute(
                request.attributed,
                **masked_perturbation_args(request),
                n_samples=int(self.parameters["n_samples"]),
            )
        used = {
            "similarity": "exp(-d^2 / (2 kernel_width^2)), d = cosine distance",
            **perturbation_record(request),
        }
        return RawAttribution(attributions, None, used)
