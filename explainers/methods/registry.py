"""Every attribution method by name, and the default set per budget.

Default methods (``default_methods``): the budget's tier, minus what cannot apply to
the modality or, without a differentiable PyTorch forward, the gradient methods. Each
budget includes the tiers before it.

| budget    | adds                                                               |
|-----------|--------------------------------------------------------------------|
| quick     | saliency, integrated_gradients, layer_integrated_gradients,        |
|           | occlusion                                                          |
| standard  | input_x_gradient, deeplift, gradient_shap, guided_backprop,        |
|           | feature_ablation, layer_gradcam                                    |
| thorough  | noise_tunnel, shapley_value_sampling, kernel_shap, lime            |

So, with gradients: images get saliency, integrated_gradients, occlusion at quick, plus
input_x_gradient, deeplift, gradient_shap, guided_backprop, feature_ablation and
layer_gradcam at standard; token ids get layer_integrated_gradients in place of
integrated_gradients, and at standard lose gradient_shap, guided_backprop and
layer_gradcam (none applies to ids); vectors are images without layer_gradcam.
Without gradients (an ONNX model whose conversion failed): occlusion at quick,
+ feature_ablation at standard, + shapley_value_sampling, kernel_shap, lime at thorough.

Importing this module loads neither torch nor Captum.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.core.errors import UsageError
from harness.explainers.methods.base import MODALITIES, Explainer
from harness.explainers.methods.deeplift import DeepLiftExplainer
from harness.explainers.methods.feature_ablation import FeatureAblationExplainer
from harness.explainers.methods.gradient_shap import GradientShapExplainer
from harness.explainers.methods.guided_backprop import GuidedBackpropExplainer
from harness.explainers.methods.input_x_gradient import InputXGradientExplainer
from harness.explainers.methods.integrated_gradients import IntegratedGradientsExplainer
from harness.explainers.methods.kernel_shap import KernelShapExplainer
from harness.explainers.methods.layer_gradcam import LayerGradCamExplainer
from harness.explainers.methods.layer_integrated_gradients import LayerIntegratedGradientsExplainer
from harness.explainers.methods.lime import LimeExplainer
from harness.explainers.methods.noise_tunnel import NoiseTunnelExplainer
from harness.explainers.methods.occlusion import OcclusionExplainer
from harness.explainers.methods.saliency import SaliencyExplainer
from harness.explainers.methods.shapley_value_sampling import ShapleyValueSamplingExplainer

__all__ = [
    "BUDGET_TIERS",
    "METHODS",
    "check_method_names",
    "default_methods",
    "get_method",
    "method_names",
]

METHODS: dict[str, type[Explainer]] = {
    cls.NAME: cls
    for cls in (
        IntegratedGradientsExplainer,
        SaliencyExplainer,
        InputXGradientExplainer,
        DeepLiftExplainer,
        GradientShapExplainer,
        GuidedBackpropExplainer,
        NoiseTunnelExplainer,
        OcclusionExplainer,
        FeatureAblationExplainer,
        ShapleyValueSamplingExplainer,
        KernelShapExplainer,
        LimeExplainer,
        LayerGradCamExplainer,
        LayerIntegratedGradientsExplainer,
    )
}

# What each budget adds to the one before it (the table in the module docstring).
BUDGET_TIERS: dict[str, tuple[str, ...]] = {
    "quick": ("saliency", "integrated_gradients", "layer_integrated_gradients", "occlusion"),
    "standard": (
        "input_x_gradient",
        "deeplift",
        "gradient_shap",
        "guided_backprop",
        "feature_ablation",
        "layer_gradcam",
    ),
    "thorough": ("noise_tunnel", "shapley_value_sampling", "kernel_shap", "lime"),
}


def method_names() -> tuple[str, ...]:
    """Every method's name, in registry order."""
    return tuple(METHODS)


def get_method(name: str) -> type[Explainer]:
    """The method class called ``name``; ``UsageError`` naming the choices otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise UsageError(_unknown_message([name])) from None


def check_method_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` (e.g. from ``--explainers a,b,c``) checked all at once, duplicates dropped."""
    chosen = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in chosen if name not in METHODS]
    if unknown:
        raise UsageError(_unknown_message(unknown))
    if not chosen:
        raise UsageError(f"no explainer named; choose from: {', '.join(METHODS)}")
    return chosen


def default_methods(budget: str, modality: str, has_gradients: bool) -> tuple[str, ...]:
    """The methods run when ``--explainers`` is not given (see the module's table)."""
    budgets = tuple(BUDGET_TIERS)
    if budget not in BUDGET_TIERS:
        raise UsageError(f"budget {budget!r} is not one of {', '.join(budgets)}")
    if modality not in MODALITIES:
        raise UsageError(f"modality {modality!r} is not one of {', '.join(MODALITIES)}")
    tiers = budgets[: budgets.index(budget) + 1]
    return tuple(
        name
        for tier in tiers
        for name in BUDGET_TIERS[tier]
        if METHODS[name].skip_reason(modality, has_gradients=has_gradients) is None
    )


def _unknown_message(unknown: list[str]) -> str:
    quoted = ", ".join(repr(name) for name in unknown)
    noun = "explainer" if len(unknown) == 1 else "explainers"
    return (
        f"unknown {noun} {quoted}; choose from: {', '.join(METHODS)} "
        "(e.g. --explainers saliency,occlusion)"
    )
