"""NoiseTunnel (SmoothGrad, Smilkov et al. 2017) over IntegratedGradients or Saliency:
the base method averaged over ``nt_samples`` noisy copies of the input. The noise's
standard deviation is ``noise_level`` times the batch's input range (the paper's
sigma / (x_max - x_min), 10-20% recommended); the resolved value is recorded as
``stdevs``. ``nt_type`` smoothgrad averages, smoothgrad_sq averages squares, vargrad
takes the variance. Token ids cannot take noise, so token inputs are not supported.

``request.internal_batch_size`` bounds the rows per forward+backward pass: noisy copies
are batched ``nt_samples_batch_size`` at a time so that copies x samples x steps fits.
The draws are seeded, but which draw lands on which copy depends on that batching: the
same seed with a different batch gives a different (equally valid) average."""

from __future__ import annotations

from typing import Any, ClassVar

from harness.explainers.methods.base import (
    AttributionRequest,
    Explainer,
    ParameterValue,
    RawAttribution,
)
from harness.explainers.methods.integrated_gradients import INTEGRATION_METHODS

__all__ = ["NOISE_TUNNEL_BASES", "NoiseTunnelExplainer"]

NOISE_TUNNEL_BASES = ("integrated_gradients", "saliency")
NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


class NoiseTunnelExplainer(Explainer):
    NAME = "noise_tunnel"
    needs_gradients = True
    is_stochastic = True
    # True for the default base (integrated_gradients); with base=saliency it is not.
    multiplies_by_inputs = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "vector"})
    DEFAULTS: ClassVar[dict[str, ParameterValue]] = {
        "base": "integrated_gradients",
        "nt_type": "smoothgrad",
        "nt_samples": 10,
        "noise_level": 0.15,
        "n_steps": 20,  # integrated_gradients base only
        "method": "gausslegendre",  # integrated_gradients base only
    }
    MODALITY_HINT = "Gaussian noise on token ids is meaningless; use layer_integrated_gradients"

    def _check_parameters(self) -> None:
        self._positive("nt_samples", "noise_level", "n_steps")
        self._choice("base", NOISE_TUNNEL_BASES)
        self._choice("nt_type", NT_TYPES)
        self._choice("method", INTEGRATION_METHODS)

    def _attribute(self, request: AttributionRequest) -> RawAttribution:
        from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

        x = request.attributed
        spread = float((x.max() - x.min()).item()) or 1.0
        stdevs = float(self.parameters["noise_level"]) * spread
        on_ig = self.parameters["base"] == "integrated_gradients"
        nt_batch, rows = self._batches(request, int(self.parameters["n_steps"]) if on_ig else 1)
        extra: dict[str, Any]
        if on_ig:
            method: IntegratedGradients | Saliency = IntegratedGradients(request.forward)
            extra = {
                "baselines": request.baseline,
                "n_steps": int(self.parameters["n_steps"]),
                "method": str(self.parameters["method"]),
                "internal_batch_size": rows,
            }
        else:
            method = Saliency(request.forward)
            extra = {"abs": True}
        attributions = NoiseTunnel(method).attribute(
            x,
            nt_type=str(self.parameters["nt_type"]),
            nt_samples=int(self.parameters["nt_samples"]),
            nt_samples_batch_size=nt_batch,
            stdevs=stdevs,
            target=request.target,
            additional_forward_args=request.additional_forward_args,
            **extra,
        )
        used: dict[str, ParameterValue] = {
            "stdevs": stdevs,
            "nt_samples_batch_size": nt_batch or 0,
            "internal_batch_size": rows or 0,
        }
        if not on_ig:
            used.update({"n_steps": "unused", "method": "unused", "internal_batch_size": "unused"})
            used["abs"] = True
        return RawAttribution(attributions, None, used)

    def _batches(self, request: AttributionRequest, steps: int) -> tuple[int | None, int | None]:
        """(noisy copies per pass, IG rows per pass) so that one forward+backward pass holds
        about ``internal_batch_size`` rows; (None, None) = everything at once."""
        if request.internal_batch_size is None:
            return None, None
        rows = request.internal_batch_size
        fits = rows // (request.batch_size * steps)
        nt_batch = max(1, min(int(self.parameters["nt_samples"]), fits))
        return nt_batch, max(rows, request.batch_size * nt_batch)
