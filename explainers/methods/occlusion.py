"""Occlusion (Zeiler & Fergus 2014): slide a window over the input, replace it with the
baseline, and attribute the output change to the covered elements (averaged where
windows overlap).

``window`` and ``stride`` are in elements; 0 = automatic: on images a square of side
ceil(min(H, W) / 8) (``feature_masks.default_block_size``) covering all channels,
elsewhere one element, widened along the last axis so that one sample has at most
``MAX_WINDOWS`` windows (a 40,000-sample signal gets windows of 157: 255 forwards a sample,
not 40,000); the stride defaults to the window (non-overlapping windows). The resolved
shapes are recorded."""

from __future__ import annotations

import math
from typing import ClassVar

from harness.explainers.methods._perturbation import perturbation_record
from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)
from harness.explainers.methods.feature_masks import default_block_size

__all__ = ["MAX_WINDOWS", "OcclusionExplainer", "occlusion_window"]

# The most automatic windows one non-image sample gets: Occlusion runs one forward per
# window, so this bounds its cost whatever the input's length.
MAX_WINDOWS = 256


def occlusion_window(
    shape: tuple[int, ...], modality: str, window: int, stride: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(sliding_window_shapes, strides) for one sample of ``shape`` (batch axis excluded)."""
    if modality == "image":
        channels, height, width = shape
        side = window or default_block_size(height, width)
        side = min(side, height, width)
        step = min(stride or side, side)
        return (channels, side, side), (channels, step, step)
    side = window or _automatic_side(shape)
    step = stride or side
    last = min(side, shape[-1])
    return (*([1] * (len(shape) - 1)), last), (*([1] * (len(shape) - 1)), min(step, last))


def _automatic_side(shape: tuple[int, ...]) -> int:
    """One element, or wider when the last axis (times the rows before it, one window
    each) would make more than ``MAX_WINDOWS`` windows."""
    rows = math.prod(shape[:-1])
    per_row = max(1, MAX_WINDOWS // max(1, rows))
    return max(1, math.ceil(shape[-1] / per_row))


class OcclusionExplainer(Explainer):
    NAME = "occlusion"
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "tokens", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {"window": 0, "stride": 0}

    def _check_parameters(self) -> None:
        for name in ("window", "stride"):
            if int(self.parameters[name]) < 0:
                raise ValueError(
                    f"occlusion parameter {name!r} must be >= 0 (0 = automatic), "
                    f"got {self.parameters[name]!r}"
                )

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import Occlusion

        x = request.attributed
        windows, strides = occlusion_window(
            tuple(x.shape[1:]),
            request.modality,
            int(self.parameters["window"]),
            int(self.parameters["stride"]),
        )
        attributions = Occlusion(request.forward).attribute(
            x,
            sliding_window_shapes=windows,
            strides=strides,
            baselines=request.baseline,
            target=request.target,
            additional_forward_args=request.additional_forward_args,
            perturbations_per_eval=request.perturbations_per_eval,
        )
        used = {
            "sliding_window_shapes": "x".join(map(str, windows)),
            "strides": "x".join(map(str, strides)),
            **perturbation_record(request, uses_mask=False),
        }
        return RawAttribution(attributions, None, used)
