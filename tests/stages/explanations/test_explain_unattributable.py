"""Which methods' sanity check leaves out the input elements equal to the baseline."""

from __future__ import annotations

import torch

from harness.explainers import get_method
from harness.explainers.methods.base import AttributionRequest
from harness.stages.explanations.sanity import unattributable

X = torch.tensor([[[[0.0, 0.5], [0.0, 1.0]]]])


def _request(modality: str = "image") -> AttributionRequest:
    return AttributionRequest(
        forward=lambda x: x.flatten(1),
        inputs=(X,),
        target=0,
        baseline=torch.zeros(1),
        modality=modality,  # type: ignore[arg-type]
    )


def test_perturbation_and_deterministic_input_times_gradient_methods_exclude_the_baseline() -> None:
    for name in ("occlusion", "feature_ablation", "integrated_gradients", "input_x_gradient"):
        mask = unattributable(get_method(name)(), _request())
        assert mask is not None, name
        assert mask.tolist() == [[[[True, False], [True, False]]]], name


def test_methods_whose_attributions_at_the_baseline_can_move_exclude_nothing() -> None:
    # saliency's gradient is not zero there; gradient_shap samples its baselines;
    # LayerGradCam attributes at a conv layer, not at the input.
    for name in ("saliency", "guided_backprop", "gradient_shap", "layer_gradcam"):
        assert unattributable(get_method(name)(), _request()) is None, name
