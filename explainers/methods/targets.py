"""What is attributed: the forward and the target index Captum differentiates or perturbs.

| choice            | forward                                   | target               |
|-------------------|-------------------------------------------|----------------------|
| predicted class   | the model                                 | argmax per sample    |
| fixed class K     | the model                                 | K for every sample   |
| scalar output     | the model (a single-output regressor)     | 0                    |
| reconstruction    | ReconstructionError(model): per-sample    | 0                    |
|                   | mean of (model(x) - x)^2, shape (N, 1)    |                      |

Each returns a ``Target`` with a description for the result. ``ReconstructionError`` is
an ``nn.Module`` so DeepLift and GuidedBackprop can hook the wrapped model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness.core.errors import UsageError

__all__ = [
    "ReconstructionError",
    "Target",
    "fixed_class",
    "predicted_class",
    "reconstruction_error",
    "scalar_output",
]


@dataclass(frozen=True)
class Target:
    forward: Callable[..., torch.Tensor]
    target: torch.Tensor | int | None
    description: str


class ReconstructionError(torch.nn.Module):
    """An autoencoder's per-sample reconstruction error, (N, 1): the scalar to attribute."""

    def __init__(self, model: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return ((self.model(x, *rest) - x) ** 2).flatten(1).mean(1, keepdim=True)


def predicted_class(
    forward: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]
) -> Target:
    """The argmax of the forward's (N, classes) output, per sample."""
    scores = _scores(forward, inputs)
    return Target(forward, scores.argmax(dim=1), "the predicted class (argmax) per sample")


def fixed_class(
    forward: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], index: int
) -> Target:
    """Class ``index`` for every sample (``--target K``), checked against the output width."""
    classes = _scores(forward, inputs).shape[1]
    if not 0 <= index < classes:
        raise UsageError(
            f"--target {index} is out of range: the model has {classes} outputs "
            f"(0..{classes - 1}); pass an index in that range"
        )
    return Target(forward, index, f"class {index} for every sample")


def scalar_output(forward: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> Target:
    """A single-output model's output (a regressor)."""
    width = _scores(forward, inputs).shape[1]
    if width != 1:
        raise ValueError(
            f"scalar_output needs a model with one output per sample, got {width}; "
            "use predicted_class or fixed_class"
        )
    return Target(forward, 0, "the model's single output")


def reconstruction_error(model: Callable[..., torch.Tensor]) -> Target:
    """For autoencoders: attribute the per-sample mean squared reconstruction error."""
    return Target(ReconstructionError(model), 0, "the per-sample mean squared reconstruction error")


def _scores(forward: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    with torch.no_grad():
        scores = forward(*inputs)
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(
            f"the forward must return (batch, outputs) scores, got {shape}; wrap the model "
            "so it returns one 2-D tensor"
        )
    return scores
