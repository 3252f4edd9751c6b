"""Grad-CAM (Selvaraju et al. 2017) at ``request.layer``, the last convolution: the
layer's channels weighted by their spatially averaged gradients, summed, by default
passed through ReLU, then upsampled to the input's H x W with
``LayerAttribution.interpolate``. The one map is repeated over the input's channels so
the attributions have the input's shape (sum over channels = C x the map)."""

from __future__ import annotations

from typing import ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    MethodNotApplicableError,
    ParameterValue,
    RawAttribution,
    single_tensor,
)

__all__ = ["LayerGradCamExplainer"]

INTERPOLATE_MODES = ("bilinear", "nearest", "bicubic", "area")


class LayerGradCamExplainer(Explainer):
    NAME = "layer_gradcam"
    needs_gradients = True
    is_layer_method = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {
        "relu_attributions": True,
        "interpolate_mode": "bilinear",
    }
    MODALITY_HINT = "it needs the spatial maps of a convolution"

    def _check_parameters(self) -> None:
        self._choice("interpolate_mode", INTERPOLATE_MODES)

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import LayerAttribution, LayerGradCam

        x = request.attributed
        cam = single_tensor(
            LayerGradCam(request.forward, request.layer).attribute(
                x,
                target=request.target,
                additional_forward_args=request.additional_forward_args,
                relu_attributions=bool(self.parameters["relu_attributions"]),
            ),
            self.NAME,
        )
        if cam.dim() != 4:
            raise MethodNotApplicableError(
                f"layer_gradcam needs a layer with (batch, C, h, w) output, got shape "
                f"{tuple(cam.shape)} from {type(request.layer).__name__}; pass the last "
                "convolution"
            )
        upsampled = LayerAttribution.interpolate(
            cam, tuple(x.shape[2:]), interpolate_mode=str(self.parameters["interpolate_mode"])
        )
        used: dict[str, ParameterValue] = {
            "layer": type(request.layer).__name__,
            "layer_map_shape": "x".join(map(str, cam.shape[2:])),
            "channel_broadcast": "the map repeated over input channels",
        }
        return RawAttribution(upsampled.expand_as(x).contiguous(), None, used)
