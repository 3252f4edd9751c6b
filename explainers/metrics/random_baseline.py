"""Random attributions: the chance level every metric is read against.

``random_attributions`` draws, from a generator seeded with ``seed``, attributions of a
given shape: uniform on [-1, 1) or standard normal. Scored with the same metrics as a real
method, they show what a number means when an explanation knows nothing about the model.
``random_explainer`` is the same as an ``explain(x)`` callable for max-sensitivity and the
randomisation test; each call draws fresh values (a reproducible sequence under ``seed``),
since a fixed draw would look perfectly robust to input noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from harness.core.errors import UsageError

__all__ = ["Distribution", "random_attributions", "random_explainer"]

Distribution = Literal["uniform", "normal"]


def random_attributions(like: Any, *, seed: int = 0, distribution: Distribution = "uniform") -> Any:
    """Random float attributions shaped like ``like`` (a tensor gives a float32 tensor on its
    device, anything else a float64 numpy array)."""
    return _draw(np.random.default_rng(seed), like, distribution)


def random_explainer(
    *, seed: int = 0, distribution: Distribution = "uniform"
) -> Callable[..., Any]:
    """``explain(x, **ignored)`` returning fresh random attributions shaped like ``x``."""
    rng = np.random.default_rng(seed)

    def explain(x: Any, **_: Any) -> Any:
        return _draw(rng, x, distribution)

    return explain


def _draw(rng: np.random.Generator, like: Any, distribution: Distribution) -> Any:
    shape = tuple(np.shape(like)) if not hasattr(like, "shape") else tuple(like.shape)
    if distribution == "uniform":
        values = rng.uniform(-1.0, 1.0, shape)
    elif distribution == "normal":
        values = rng.standard_normal(shape)
    else:
        raise UsageError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if hasattr(like, "detach"):
        import torch

        return torch.as_tensor(values, dtype=torch.float32, device=like.device)
    return values
