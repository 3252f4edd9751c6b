"""Max-sensitivity (Yeh et al. 2019, "On the (in)fidelity and sensitivity of
explanations"), computed by ``captum.metrics.sensitivity_max``.

For ``n_perturb_samples`` points x' drawn uniformly from the L-infinity ball of ``radius``
around x (in the input's units, from a generator seeded with ``seed``), the largest
relative change of the explanation, max ||explain(x') - explain(x)|| / ||explain(x)||
(Frobenius norm, as Captum computes it). Lower is better: a robust explanation barely
moves when the input barely does. ``explain(x)`` (or ``explain(x, target=t)`` when a
target is given; ``t`` then has one entry per row of ``x``) returns attributions for a
batch. Inputs must be floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.core.errors import UsageError
from harness.explainers.metrics._common import as_tensor, per_sample_targets
from harness.explainers.metrics.base import MetricResult, metric_result

__all__ = ["max_sensitivity"]


def max_sensitivity(
    explain: Callable[..., Any],
    inputs: Any,
    target: Any = None,
    *,
    radius: float = 0.02,
    n_perturb_samples: int = 10,
    max_examples_per_batch: int | None = None,
    seed: int = 0,
) -> MetricResult:
    """Max-sensitivity of the explanation function ``explain`` at ``inputs``."""
    import torch
    from captum.metrics import sensitivity_max

    x = as_tensor(inputs)
    if not x.is_floating_point():
        raise UsageError(
            f"max-sensitivity perturbs inputs with noise and needs floating point, got "
            f"{x.dtype}; for token ids, explain at the embedding output"
        )
    if radius <= 0 or n_perturb_samples < 1:
        raise UsageError(
            f"need radius > 0 and n_perturb_samples >= 1, got {radius}, {n_perturb_samples}"
        )
    generator = torch.Generator().manual_seed(seed)

    def perturb(batch: torch.Tensor, perturb_radius: float) -> torch.Tensor:
        noise = torch.rand(batch.shape, generator=generator, dtype=torch.float64)
        noise = ((2 * noise - 1) * perturb_radius).to(device=batch.device, dtype=batch.dtype)
        return batch + noise

    def explanation(batch: Any, **kwargs: Any) -> tuple[torch.Tensor]:
        # Captum hands the inputs over as a tuple and expects a tuple back.
        single = batch[0] if isinstance(batch, tuple) else batch
        with torch.enable_grad():
            out = explain(single, **kwargs)
        return (as_tensor(out).detach().to(torch.float64),)

    targets = per_sample_targets(target, x.shape[0])
    kwargs = {} if targets[0] is None else {"target": torch.tensor(targets)}
    values = sensitivity_max(
        explanation,
        x,
        perturb_func=perturb,
        perturb_radius=radius,
        n_perturb_samples=n_perturb_samples,
        max_examples_per_batch=max_examples_per_batch,
        **kwargs,
    )
    return metric_result(
        "max_sensitivity",
        values.detach().cpu().double().tolist(),
        higher_is_better=False,
        parameters={
            "perturbation": "uniform_linf",
            "radius": radius,
            "n_perturb_samples": n_perturb_samples,
            "norm": "fro",
            "seed": seed,
        },
    )
