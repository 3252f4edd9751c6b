"""Plumbing the model-based metrics share: conversions, targets, baselines, scored forwards.

Conventions (the package's ``__init__`` states them for callers):

- ``inputs`` is one tensor (or array) with the batch first; integer inputs (token ids) are
  kept integer, so a baseline there is a token id.
- ``forward(x, *additional_forward_args)`` returns ``(batch,)`` or ``(batch, n_outputs)``.
  An argument of ``additional_forward_args`` whose first axis is the batch is sliced and
  repeated along with each sample's perturbations; anything else is passed as is.
- ``target`` is ``None`` (a single output), an int for every sample, or one int per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.errors import ModelOutputError, UsageError

if TYPE_CHECKING:
    import torch

__all__ = [
    "Forward",
    "as_tensor",
    "baseline_tensor",
    "describe_baseline",
    "per_sample_targets",
    "perturbed_scores",
    "sample_args",
    "to_numpy",
]

Forward = Callable[..., Any]


def to_numpy(values: Any) -> np.ndarray:
    """A float64 numpy copy of a tensor or array (detached, on the CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.array(values, dtype=np.float64)


def as_tensor(values: Any) -> torch.Tensor:
    """A tensor of ``values``, dtype kept (a numpy array becomes a CPU tensor)."""
    import torch

    if isinstance(values, torch.Tensor):
        return values
    return torch.as_tensor(np.asarray(values))


def per_sample_targets(target: Any, batch: int) -> list[int | None]:
    """One target per sample from ``None``, an int, or a sequence/tensor of ``batch`` ints."""
    if target is None:
        return [None] * batch
    if isinstance(target, int | np.integer):
        return [int(target)] * batch
    flat = to_numpy(target).ravel()
    if flat.size == 1:
        return [int(flat[0])] * batch
    if flat.size != batch:
        raise UsageError(
            f"target has {flat.size} entries for a batch of {batch}; pass one int, "
            "or one target per sample"
        )
    return [int(t) for t in flat]


def baseline_tensor(baseline: Any, inputs: torch.Tensor) -> torch.Tensor:
    """``baseline`` (a scalar, one sample's shape, or the batch's shape) broadcast to the
    batch's shape, in the inputs' dtype and on their device."""
    import torch

    b = torch.as_tensor(
        baseline.detach() if hasattr(baseline, "detach") else np.asarray(baseline),
        device=inputs.device,
    ).to(inputs.dtype)
    try:
        return torch.broadcast_to(b, inputs.shape)
    except RuntimeError as exc:
        raise UsageError(
            f"baseline of shape {tuple(b.shape)} does not broadcast to the inputs' shape "
            f"{tuple(inputs.shape)}; pass a scalar, one sample's shape, or the batch's shape"
        ) from exc


def describe_baseline(baseline: Any) -> str | float:
    """The baseline as a result parameter: the number, or the tensor's shape."""
    if isinstance(baseline, int | float | np.number):
        return float(baseline)
    return f"tensor{tuple(getattr(baseline, 'shape', ()))}"


def sample_args(args: Sequence[Any], index: int, batch: int) -> Callable[[int], tuple[Any, ...]]:
    """``rows -> args`` for sample ``index``: each argument whose first axis is the batch
    is cut to the sample and repeated ``rows`` times; any other is passed as is."""
    sliced = [
        (as_tensor(a)[index : index + 1], True) if _is_batched(a, batch) else (a, False)
        for a in args
    ]

    def repeated(rows: int) -> tuple[Any, ...]:
        return tuple(
            a.repeat(rows, *([1] * (a.ndim - 1))) if batched else a for a, batched in sliced
        )

    return repeated


def perturbed_scores(
    forward: Forward,
    x_one: torch.Tensor,
    base_one: torch.Tensor,
    labels: np.ndarray,
    chosen: np.ndarray,
    args_for: Callable[[int], tuple[Any, ...]],
    target: int | None,
    *,
    use_softmax: bool,
    batch_size: int,
) -> np.ndarray:
    """Float64 ``(m,)``: the target's score for each of ``m`` perturbations of one sample
    ``x_one`` ``(1, *shape)``; perturbation j sets the features ``chosen[j]`` (booleans
    over features; ``labels`` maps each element to its feature) to the baseline. Built and
    run ``batch_size`` perturbations at a time, so memory holds one chunk of inputs."""
    import torch

    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    chunks = []
    with torch.no_grad():
        for start in range(0, chosen.shape[0], batch_size):
            block = np.asarray(chosen[start : start + batch_size], dtype=bool)[:, labels]
            mask = torch.as_tensor(block, device=x_one.device)
            rows = torch.where(mask, base_one, x_one)
            output = forward(rows, *args_for(rows.shape[0]))
            chunks.append(_select(to_numpy(output), target, use_softmax))
    values = np.concatenate(chunks)
    if not np.all(np.isfinite(values)):
        raise ModelOutputError(
            f"the model returned NaN or infinite scores for {int((~np.isfinite(values)).sum())}"
            f" of {values.size} perturbed inputs; check that the baseline is a valid input"
        )
    return values


def _is_batched(arg: Any, rows: int) -> bool:
    shape = getattr(arg, "shape", None)
    return shape is not None and len(shape) > 0 and shape[0] == rows


def _select(output: np.ndarray, target: int | None, use_softmax: bool) -> np.ndarray:
    if output.ndim == 1:
        if use_softmax:
            raise UsageError(
                "use_softmax needs (batch, n_outputs) outputs, got one score per sample; "
                "pass use_softmax=False"
            )
        return output
    if output.ndim != 2:
        raise UsageError(
            f"forward must return (batch,) or (batch, n_outputs), got shape {output.shape}; "
            "wrap it to return one score per output (e.g. the reconstruction error)"
        )
    if use_softmax:
        shifted = np.exp(output - output.max(axis=1, keepdims=True))
        output = shifted / shifted.sum(axis=1, keepdims=True)
    if target is None:
        if output.shape[1] != 1:
            raise UsageError(
                f"forward returns {output.shape[1]} outputs and no target was given; "
                "pass target (one int, or one per sample)"
            )
        target = 0
    if not 0 <= target < output.shape[1]:
        raise UsageError(f"target {target} is out of range for {output.shape[1]} outputs")
    return output[:, target]
