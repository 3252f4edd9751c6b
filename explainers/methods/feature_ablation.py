"""FeatureAblation: replace each feature (a group of ``request.feature_mask``, or each
element) with the baseline, one at a time, and attribute the output change to it.

Without a mask, an input of more than ``MAX_FEATURES`` elements a sample is cut into that
many contiguous groups (one forward each): a 40,000-sample signal costs 256 forwards a
sample, not 40,000. The mask used is recorded."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from harness.explainers.methods._perturbation import masked_perturbation_args, perturbation_record
from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)

if TYPE_CHECKING:
    import torch

__all__ = ["MAX_FEATURES", "FeatureAblationExplainer", "contiguous_groups"]

MAX_FEATURES = 256  # the most features an automatic mask makes (one forward each)


def contiguous_groups(x: torch.Tensor, max_features: int = MAX_FEATURES) -> torch.Tensor | None:
    """A mask of ``max_features`` contiguous groups over one sample's elements (row-major),
    broadcast over the batch; None when the sample has no more elements than that."""
    import torch

    count = math.prod(x.shape[1:])
    if count <= max_features:
        return None
    groups = torch.arange(count, device=x.device) * max_features // count
    return groups.reshape(1, *x.shape[1:])


class FeatureAblationExplainer(Explainer):
    NAME = "feature_ablation"
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {}

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import FeatureAblation

        if request.feature_mask is None and request.attributed.is_floating_point():
            mask = contiguous_groups(request.attributed)
            if mask is not None:
                request = replace(request, feature_mask=mask)
        attributions = FeatureAblation(request.forward).attribute(
            request.attributed,
            **masked_perturbation_args(request),
        )
        return RawAttribution(attributions, None, perturbation_record(request))
