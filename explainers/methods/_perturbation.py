"""What the perturbation methods share: the feature mask, batching, and their records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.explainers.methods.base import AttributionRequest, ParameterValue

if TYPE_CHECKING:
    import torch

__all__ = ["feature_mask_text", "masked_perturbation_args", "perturbation_record"]


def feature_mask_text(mask: torch.Tensor | None) -> str:
    if mask is None:
        return "none (one feature per element; on token ids, one per token)"
    return f"{int(mask.unique().numel())} features, mask shape {'x'.join(map(str, mask.shape))}"


def perturbation_record(
    request: AttributionRequest, *, uses_mask: bool = True
) -> dict[str, ParameterValue]:
    record: dict[str, ParameterValue] = {
        "perturbations_per_eval": request.perturbations_per_eval,
    }
    if uses_mask:
        record["feature_mask"] = feature_mask_text(request.feature_mask)
    return record


def masked_perturbation_args(request: AttributionRequest) -> dict[str, Any]:
    """The keyword arguments Captum's feature-mask perturbation methods (FeatureAblation,
    ShapleyValueSampling, KernelShap, Lime) all take from the request."""
    return {
        "baselines": request.baseline,
        "target": request.target,
        "additional_forward_args": request.additional_forward_args,
        "feature_mask": request.feature_mask,
        "perturbations_per_eval": request.perturbations_per_eval,
    }
