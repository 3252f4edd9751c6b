"""Infidelity (Yeh et al. 2019, "On the (in)fidelity and sensitivity of explanations"),
computed by ``captum.metrics.infidelity``.

For perturbations I drawn from a distribution mu, infidelity is
E_I[(I . attr - (f(x) - f(x - I)))^2]: how badly the attributions, read as a linear model
of the output, predict what a perturbation does. Here the input is perturbed by Gaussian
noise e, each element N(0, ``noise_std``^2) in the input's own units, ``n_perturb_samples``
draws per sample from a generator seeded with ``seed``. For methods that multiply by the
inputs (IG, InputXGradient, DeepLift, the Shapley and ablation family), attributions are
read per unit of relative change, so I = e / x (Captum's ``multiply_by_inputs``
convention; elements where x = 0 use I = e); for gradients (Saliency, GuidedBackprop,
GradCam) pass ``multiply_by_inputs=False`` and I = e. With the former a linear model's
exact attributions w * x score 0, with the latter its gradient w does. With ``normalize``
(default, Captum's option) the attributions are first rescaled by the least-squares factor
beta, so the value does not depend on their overall scale and methods compare.
Lower is better. Inputs must be floating point with attributions of the same shape; for
token models attribute and score at the embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.core.errors import UsageError
from harness.explainers.metrics._common import Forward, as_tensor, per_sample_targets
from harness.explainers.metrics.base import MetricResult, metric_result

__all__ = ["infidelity"]


def infidelity(
    forward: Forward,
    inputs: Any,
    attributions: Any,
    target: Any = None,
    *,
    noise_std: float = 0.1,
    n_perturb_samples: int = 16,
    multiply_by_inputs: bool = True,
    normalize: bool = True,
    additional_forward_args: Sequence[Any] = (),
    max_examples_per_batch: int | None = None,
    seed: int = 0,
) -> MetricResult:
    """Infidelity of ``attributions`` under Gaussian input noise."""
    import torch
    from captum.metrics import infidelity as captum_infidelity

    x = as_tensor(inputs)
    attr = as_tensor(attributions).to(device=x.device, dtype=x.dtype)
    if not x.is_floating_point() or tuple(attr.shape) != tuple(x.shape):
        raise UsageError(
            f"infidelity needs floating-point inputs and attributions of their shape, got "
            f"inputs {tuple(x.shape)} {x.dtype} and attributions {tuple(attr.shape)}; for "
            "token ids, attribute and score at the embedding output"
        )
    if noise_std <= 0 or n_perturb_samples < 1:
        raise UsageError(
            f"need noise_std > 0 and n_perturb_samples >= 1, got {noise_std}, {n_perturb_samples}"
        )
    generator = torch.Generator().manual_seed(seed)

    def perturb(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn(batch.shape, generator=generator, dtype=torch.float64)
        noise = (noise * noise_std).to(device=batch.device, dtype=batch.dtype)
        if not multiply_by_inputs:
            return noise, batch - noise
        relative = noise / torch.where(batch == 0, torch.ones_like(batch), batch)
        return relative, batch - noise

    targets = per_sample_targets(target, x.shape[0])
    values = captum_infidelity(
        _tensor_output(forward, single=targets[0] is None),
        perturb,
        x,
        attr,
        additional_forward_args=tuple(additional_forward_args) or None,
        target=None if targets[0] is None else targets,
        n_perturb_samples=n_perturb_samples,
        max_examples_per_batch=max_examples_per_batch,
        normalize=normalize,
    )
    # The normalised form is a difference of sums; rounding can leave it a hair below 0.
    per_sample = values.detach().cpu().double().clamp(min=0.0).tolist()
    return metric_result(
        "infidelity",
        per_sample,
        higher_is_better=False,
        parameters={
            "perturbation": "gaussian",
            "noise_std": noise_std,
            "n_perturb_samples": n_perturb_samples,
            "multiply_by_inputs": int(multiply_by_inputs),
            "normalize": int(normalize),
            "seed": seed,
        },
    )


def _tensor_output(forward: Forward, *, single: bool) -> Forward:
    """``forward`` returning a tensor (an ONNX wrapper may return numpy), and with
    ``single`` (no target) one score per row, as Captum needs."""

    def wrapped(*args: Any) -> Any:
        out = as_tensor(forward(*args))
        if not single:
            return out
        if out.ndim > 2 or (out.ndim == 2 and out.shape[1] != 1):
            raise UsageError(
                f"forward returns outputs of shape {tuple(out.shape)} and no target was "
                "given; pass target (one int, or one per sample)"
            )
        return out.reshape(-1)

    return wrapped
