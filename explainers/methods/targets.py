"""What is attributed: the forward and the target index Captum differentiates or perturbs.

| choice            | forward                                   | target               |
|-------------------|-------------------------------------------|----------------------|
| predicted class   | the model                                 | argmax per sample    |
| fixed class K     | the model                                 | K for every sample   |
| scalar output     | the model (a single-output regressor)     | 0                    |
| reconstruction    | ReconstructionError(model): per-sample    | 0                    |
|                   | mean of (model(x) - x)^2, shape (N, 1)    |                      |
| any other kind    | KindScore(model, choice): the kind's      | 0                    |
|                   | score per sample, shape (N, 1)            |                      |

The other kinds (``output_kinds.py`` recognises them and chooses the target) are scored by
``kind_scores``: an embedding's norm or its cosine with the unperturbed embedding, the map
summed over the predicted region, the greedy path's summed log-probability, the top
detection's score. Those that compare with the unperturbed output take a compact
``reference_of`` it (the embedding, the region, the path) as the forward's last argument,
so that Captum expands it with the other per-sample arguments.

Each returns a ``Target`` with a description for the result. ``ReconstructionError`` and
``KindScore`` are ``nn.Module``s so DeepLift and GuidedBackprop can hook the wrapped model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness.core.errors import UsageError
from harness.explainers.methods.output_kinds import TargetChoice

__all__ = [
    "KindScore",
    "ReconstructionError",
    "Target",
    "fixed_class",
    "kind_scores",
    "kind_target",
    "predicted_class",
    "reconstruction_error",
    "reference_of",
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


# --- the other output kinds ---------------------------------------------------------------


class KindScore(torch.nn.Module):
    """``choice``'s score of the wrapped forward's output, (N, 1); the last argument is the
    ``reference_of`` the unperturbed output when the choice needs one."""

    def __init__(self, model: Callable[..., torch.Tensor], choice: TargetChoice) -> None:
        super().__init__()
        self.model = model
        self.choice = choice

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        reference = None
        if self.choice.needs_reference:
            *rest_list, reference = rest
            rest = tuple(rest_list)
        output = self.choice.layout.batch_first(self.model(x, *rest))
        return kind_scores(self.choice, output, reference)[:, None]


def kind_target(forward: Callable[..., torch.Tensor], choice: TargetChoice) -> Target:
    """The target of an output kind other than classes, a single output or a
    reconstruction: the kind's score of ``forward`` as a (N, 1) output, index 0."""
    return Target(KindScore(forward, choice), 0, choice.description)


def reference_of(choice: TargetChoice, output: torch.Tensor) -> torch.Tensor | None:
    """What the score compares with, from the unperturbed (batch-first) ``output``: the
    predicted class (N,), the embedding (N, width), the region (N, *spatial) holding the
    region's class + 1 inside it and 0 outside, the greedy path (N, time); None when the
    score needs nothing."""
    output = output.detach()
    if choice.kind == "predicted":
        return output.reshape(output.shape[0], -1).argmax(dim=1)
    if choice.kind == "cosine":
        return output.reshape(output.shape[0], -1).clone()
    if choice.kind == "region":
        return _region(choice, output)
    if choice.kind == "sequence":
        return output.argmax(dim=-1)
    return None


def kind_scores(
    choice: TargetChoice, output: torch.Tensor, reference: torch.Tensor | None = None
) -> torch.Tensor:
    """(N,): each sample's score of ``choice`` in the batch-first ``output``."""
    rows = output.reshape(output.shape[0], -1)
    kind = choice.kind
    if kind == "predicted":
        assert reference is not None
        return rows.gather(1, reference.long().reshape(-1, 1))[:, 0]
    if kind == "class":
        return rows[:, choice.index or 0]
    if kind == "output":
        return rows[:, 0]
    if kind == "norm":
        return rows.norm(dim=1)
    if kind == "cosine":
        assert reference is not None
        return torch.nn.functional.cosine_similarity(rows, reference.to(rows.dtype), dim=1)
    if kind == "region":
        assert reference is not None
        return _region_sum(choice, output, reference)
    if kind == "sequence":
        assert reference is not None
        steps = _log_probabilities(choice, output).gather(-1, reference.long()[..., None])
        return steps[..., 0].sum(dim=1)
    if kind == "detection":
        return output[..., 4].amax(dim=1)
    raise ValueError(f"the {kind} target has no score of the output alone")


def _classes_first(choice: TargetChoice, output: torch.Tensor) -> torch.Tensor:
    """A dense map as (N, classes, *spatial); a single map gains a class axis of 1."""
    axis = choice.layout.class_axis
    return output[:, None] if axis is None else output.movedim(axis + 1, 1)


def _region(choice: TargetChoice, output: torch.Tensor) -> torch.Tensor:
    maps = _classes_first(choice, output)
    if maps.shape[1] == 1:
        single = maps[:, 0]
        threshold = 0.5 if bool(((single >= 0) & (single <= 1)).all()) else 0.0
        inside = single > threshold
        empty = ~inside.reshape(inside.shape[0], -1).any(dim=1)
        inside[empty] = True  # nothing predicted: the whole map
        return inside.long()
    predicted = maps.argmax(dim=1)  # (N, *spatial)
    counts = torch.nn.functional.one_hot(predicted.reshape(len(maps), -1), maps.shape[1]).sum(1)
    others = counts.clone()
    others[:, 0] = -1  # class 0 (background, by convention) only when nothing else shows
    chosen = torch.where(others.amax(dim=1) > 0, others.argmax(dim=1), counts.argmax(dim=1))
    inside = predicted == chosen.reshape(-1, *([1] * (predicted.dim() - 1)))
    return torch.where(inside, chosen.reshape(-1, *([1] * (predicted.dim() - 1))) + 1, 0)


def _region_sum(choice: TargetChoice, output: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    maps = _classes_first(choice, output)
    region = region.long()
    chosen = (region.reshape(len(region), -1).amax(dim=1) - 1).clamp(min=0)
    index = chosen.reshape(-1, 1, *([1] * (maps.dim() - 2))).expand(-1, 1, *maps.shape[2:])
    selected = maps.gather(1, index)[:, 0]
    inside = (region > 0).to(selected.dtype)
    return (selected * inside).reshape(len(selected), -1).sum(dim=1)


def _log_probabilities(choice: TargetChoice, output: torch.Tensor) -> torch.Tensor:
    if choice.layout.scores == "probabilities":
        return output.clamp(min=1e-12).log()
    # log_softmax leaves log-probabilities as they are, and normalises logits.
    return torch.nn.functional.log_softmax(output, dim=-1)
