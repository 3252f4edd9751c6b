"""Controls for the randomisation sanity check: explainer-like callables whose answer is
known, so that ``mprt`` + ``sanity_verdict`` can be shown right before they judge a method.

Each control is built once with the audited inputs and returns ``explain(state) ->
attributions``, the callable ``mprt`` takes:

    input_itself(x)             the input as its own "attribution": ignores the weights,
                                so it must FAIL (negative control)
    edge_filter(x)              the input's spatial gradient magnitude (a Sobel-like
                                filter over the last axes): an edge detector that looks
                                plausible and ignores the weights, must FAIL (negative)
    linear_gradient_times_input(x, target)
                                gradient x input of a linear model (``linear_model``),
                                i.e. W[target] * x: every attribution is rewritten when W is
                                randomised, so it must PASS (positive control)

The positive control needs inputs whose magnitudes carry no ranking of their own
(``sign_inputs``: +-1 with random signs): with N(0, 1) inputs |W x| would keep about half
its rank correlation through |x| whatever W, exactly the weight-independent component the
absolute similarity is known to pick up (see ``randomisation``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "edge_filter",
    "input_itself",
    "linear_gradient_times_input",
    "linear_model",
    "sign_inputs",
]


def input_itself(inputs: Any) -> Callable[[Any], np.ndarray]:
    """Negative control: the input, whatever the state."""
    values = _as_array(inputs)
    return lambda _state: values


def edge_filter(inputs: Any) -> Callable[[Any], np.ndarray]:
    """Negative control: |d/dh| + |d/dw| of the input (central differences over the last
    two axes; over the last axis for flat inputs), whatever the state."""
    values = _as_array(inputs)
    edges = np.abs(np.gradient(values, axis=-1))
    if values.ndim >= 3:
        edges = edges + np.abs(np.gradient(values, axis=-2))
    return lambda _state: edges


def linear_gradient_times_input(inputs: Any, target: int) -> Callable[[Any], np.ndarray]:
    """Positive control: gradient x input of the linear model the state is (a
    ``torch.nn.Linear`` over the flattened input), for class ``target``."""
    values = _as_array(inputs)

    def explain(model: torch.nn.Linear) -> np.ndarray:
        weights = model.weight.detach().cpu().double().numpy()[target]
        return weights.reshape(values.shape[1:])[None] * values

    return explain


def linear_model(n_features: int, n_classes: int, seed: int) -> torch.nn.Linear:
    """The positive control's model, its weights drawn from ``seed``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(n_features, n_classes)
    with torch.no_grad():
        model.weight.copy_(torch.randn(n_classes, n_features, generator=generator))
        model.bias.zero_()
    return model


def sign_inputs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """+-1 inputs with random signs: magnitudes that rank nothing (see the module doc)."""
    generator = np.random.default_rng(seed)
    return generator.choice(np.array([-1.0, 1.0]), size=shape)


def _as_array(inputs: Any) -> np.ndarray:
    if hasattr(inputs, "detach"):
        inputs = inputs.detach().cpu().numpy()
    return np.asarray(inputs, dtype=np.float64)
