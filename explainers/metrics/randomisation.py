"""Model parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency
maps"), cascading from the top layer.

An explanation that explains the model must change when the model's learned weights are
destroyed. The cascade randomises the layers one at a time from the output down (step k:
the top k layers random); at each step the explanation is recomputed and compared with
the original one, per sample, by the Spearman rank correlation of the feature
attributions. ``value`` is the mean correlation after the last step (the whole cascade)
of the representation ``absolute`` names (magnitudes, or signed values); ``curve`` holds
(step, mean correlation) for every step, and ``parameters["layers"]`` names the layers in
cascade order. Lower is better.

Signed and absolute, both recorded. The final mean correlation of the signed attributions
(``parameters["signed_correlation"]``) and of their magnitudes
(``parameters["absolute_correlation"]``) are both computed, and neither alone decides,
because each can be fooled by something the weights do not control: magnitudes inherit
|input - baseline| in every method that multiplies by it (so |attr| stays correlated
whatever the weights: Integrated Gradients on the CNN, 0.85), while signed values can
decorrelate through sign flips alone while the same features stay the important ones.
``sanity_verdict`` therefore passes a method only when both are below the threshold,
fails it only when both are at or above it (an undefined correlation, constant
attributions, counts as above), and calls it ``"inconclusive"`` when they disagree.

Features the method cannot attribute. ``exclude`` marks input elements whose attribution
is fixed whatever the weights: for perturbation methods (and for methods that multiply by
input - baseline without sampling) an element equal to the baseline gets exactly zero,
so a black background would keep the correlation high (Occlusion, 0.80) without saying
anything about the model. Those features are left out of every correlation
(``parameters["excluded_features"]`` counts them over the batch; with a ``feature_mask``
a feature is excluded when all its elements are).

A cascade cut short (an exception of a type in ``interruptions``, raised while a step is
explained: a deadline) keeps the steps that finished and says so:
``parameters["complete"]`` is 0 and ``parameters["interrupted"]`` the reason. Such a result
is partial: ``sanity_verdict`` reads it as ``"inconclusive"``, never as a fail.

The test is written against two callables, so that it runs on any backend:

    mprt(explain, original, cascade)

``explain(state) -> attributions`` explains the audited inputs with a model state;
``cascade`` yields ``(layer_name, state)`` per step, cumulatively randomised. Two cascades
are provided:

- ``torch_cascade(module)``: the modules that own parameters, in reverse registration
  order (the order ``named_modules`` gives, reversed), each randomised in place; it yields
  the module itself and restores every parameter when it ends, is closed, or fails
  (``mprt`` closes it; elsewhere iterate it under ``contextlib.closing``).
- ``onnx_cascade(proto)``: the graph's floating-point initializers with more than one
  element, grouped by the node that consumes them, nodes in reverse topological order (an
  initializer two nodes share goes with the later one); it yields a new ``ModelProto`` per
  step and never touches the one given. Runs no model: the caller builds sessions.

Randomised values are drawn from N(0, s^2), s the original tensor's standard deviation
(its root mean square when constant, so a LayerNorm scale of ones becomes N(0, 1); a
tensor of zeros stays zero), from a generator seeded with ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from harness.core.errors import UsageError
from harness.explainers.metrics._common import to_numpy
from harness.explainers.metrics._features import GroupReduce, broadcast_like, features
from harness.explainers.metrics.base import MetricResult, metric_result
from harness.explainers.metrics.stats import spearman

if TYPE_CHECKING:
    import onnx
    import torch

__all__ = [
    "mprt",
    "onnx_cascade",
    "passes_sanity",
    "random_like",
    "sanity_reason",
    "sanity_verdict",
    "torch_cascade",
]

State = TypeVar("State")


def mprt(
    explain: Callable[[State], Any],
    original: State,
    cascade: Iterable[tuple[str, State]],
    *,
    absolute: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
    exclude: Any = None,
    interruptions: tuple[type[BaseException], ...] = (),
) -> MetricResult:
    """Spearman correlation between the original explanation and the explanation after
    each step of ``cascade``, signed and absolute; ``cascade`` is closed (weights restored)
    on the way out. ``exclude`` (True: the method cannot attribute that input element
    whatever the weights) leaves features out of the correlations. An exception in
    ``interruptions`` ends the cascade early with the steps done (the original explanation
    itself is not a step: interrupted there, it propagates)."""
    kept: tuple[np.ndarray, ...] | None = None

    def per_feature(state: State) -> tuple[np.ndarray, ...]:
        nonlocal kept
        attributions = explain(state)
        grouped = features(attributions, None, feature_mask, group_reduce).attributions
        if kept is None:
            kept = _kept_features(exclude, attributions, feature_mask)
        if kept is None:
            return grouped
        return tuple(a[k] for a, k in zip(grouped, kept, strict=True))

    reference = per_feature(original)
    layers: list[str] = []
    signed: list[list[float]] = []
    magnitude: list[list[float]] = []
    iterator = iter(cascade)
    interrupted: str | None = None
    try:
        for layer, state in iterator:
            try:
                randomised = per_feature(state)
            except interruptions as exc:
                interrupted = str(exc) or type(exc).__name__
                break
            if [a.size for a in randomised] != [a.size for a in reference]:
                raise UsageError(
                    f"after randomising {layer!r} the attributions changed shape; explain "
                    "must return one shape for every state"
                )
            pairs = list(zip(reference, randomised, strict=True))
            signed.append([spearman(a, b) for a, b in pairs])
            magnitude.append([spearman(np.abs(a), np.abs(b)) for a, b in pairs])
            layers.append(layer)
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()
    if not signed and interrupted is not None:
        return _interrupted_before_any_step(interrupted)
    if not signed:
        raise UsageError("the cascade randomised no layer: the model has no parameters to test")
    steps = magnitude if absolute else signed
    extra: dict[str, str | int | float] = {"complete": int(interrupted is None)}
    if interrupted is not None:
        extra["interrupted"] = interrupted
    excluded = 0 if kept is None else sum(int(k.size - k.sum()) for k in kept)
    return metric_result(
        "mprt",
        steps[-1],
        higher_is_better=False,
        parameters={
            "cascade": "top_down",
            "correlation": "spearman",
            "absolute": int(absolute),
            **_defined(
                signed_correlation=_mean_defined(signed[-1]),
                absolute_correlation=_mean_defined(magnitude[-1]),
            ),
            "excluded_features": excluded,
            "n_layers": len(layers),
            "layers": ",".join(layers),
            **extra,
        },
        curve=[(k + 1, _mean_defined(values)) for k, values in enumerate(steps)],
    )


def _kept_features(
    exclude: Any, attributions: Any, feature_mask: Any
) -> tuple[np.ndarray, ...] | None:
    """Per sample, True for the features that take part in the correlations: those with at
    least one element not excluded."""
    if exclude is None:
        return None
    shape = to_numpy(attributions).shape
    excluded = broadcast_like(np.asarray(to_numpy(exclude), dtype=np.float64), shape, "exclude")
    share = features(excluded, None, feature_mask, "mean").attributions
    return tuple(s < 1.0 for s in share)


def _interrupted_before_any_step(why: str) -> MetricResult:
    return metric_result(
        "mprt",
        [],
        higher_is_better=False,
        parameters={
            "cascade": "top_down",
            "correlation": "spearman",
            "n_layers": 0,
            "layers": "",
            "complete": 0,
            "interrupted": why,
        },
        curve=[],
    )


def sanity_verdict(result: MetricResult, threshold: float = 0.5) -> str:
    """ "pass" when the signed and the absolute correlations are both below ``threshold``,
    "fail" when both are not (undefined counts as not below), "inconclusive" when they
    disagree or the cascade stopped before its planned steps (a partial cascade says nothing
    about the layers it did not reach). A result without both (older callers) is judged on
    ``value`` alone."""
    if not int(result.parameters.get("complete", 1)):
        return "inconclusive"
    below = [_below(c, threshold) for c in _both(result)]
    if all(below):
        return "pass"
    return "fail" if not any(below) else "inconclusive"


def sanity_reason(result: MetricResult, threshold: float = 0.5) -> str | None:
    """Why a complete cascade is inconclusive (the two correlations disagree); else None."""
    if not int(result.parameters.get("complete", 1)) or sanity_verdict(result, threshold) != (
        "inconclusive"
    ):
        return None
    signed, magnitude = _both(result)
    return (
        f"signed Spearman {signed:.3g} and absolute {magnitude:.3g} fall on opposite sides "
        f"of the threshold {threshold:g}: the magnitudes and the signs tell different stories"
    )


def _both(result: MetricResult) -> tuple[float, float]:
    params = result.parameters
    if "signed_correlation" not in params and "absolute_correlation" not in params:
        return result.value, result.value  # a result from before both were recorded
    # a correlation left out was undefined (constant attributions): NaN counts as above
    signed = float(params.get("signed_correlation", math.nan))
    return signed, float(params.get("absolute_correlation", math.nan))


def _below(correlation: float, threshold: float) -> bool:
    return math.isfinite(correlation) and correlation < threshold


def passes_sanity(result: MetricResult, threshold: float = 0.5) -> bool:
    """True when the randomised model's attributions correlate with the original ones below
    ``threshold`` in the representation ``value`` holds (signed or absolute, see
    ``parameters["absolute"]``); an undefined correlation (constant attributions) does not
    pass. The verdict, which reads both representations, is ``sanity_verdict``'s."""
    if result.name != "mprt":
        raise UsageError(f"passes_sanity reads an 'mprt' result, got {result.name!r}")
    return math.isfinite(result.value) and result.value < threshold


def torch_cascade(
    module: torch.nn.Module, *, seed: int = 0
) -> Generator[tuple[str, Any], None, None]:
    """Randomise ``module``'s parameter-owning submodules top-down, in place, yielding
    ``(name, module)`` after each; every parameter is restored when the iteration ends."""
    import torch

    owners = [
        (name or type(m).__name__, m)
        for name, m in module.named_modules()
        if next(m.parameters(recurse=False), None) is not None
    ]
    saved = [(p, p.detach().clone()) for p in module.parameters()]
    generator = np.random.default_rng(seed)
    done: set[int] = set()
    try:
        for name, owner in reversed(owners):
            with torch.no_grad():
                for p in owner.parameters(recurse=False):
                    if id(p) in done or not p.is_floating_point():
                        continue
                    done.add(id(p))
                    values = random_like(p.detach().cpu().double().numpy(), generator)
                    p.copy_(torch.from_numpy(values).to(device=p.device, dtype=p.dtype))
            yield name, module
    finally:
        with torch.no_grad():
            for p, original in saved:
                p.copy_(original)


def onnx_cascade(
    proto: onnx.ModelProto, *, seed: int = 0
) -> Generator[tuple[str, Any], None, None]:
    """Randomise ``proto``'s initializers top-down, node by node, yielding
    ``(node_name, new_proto)`` per step; ``proto`` itself is never modified."""
    import onnx
    from onnx import numpy_helper

    index = {t.name: i for i, t in enumerate(proto.graph.initializer) if _randomisable(t)}
    current = onnx.ModelProto()
    current.CopyFrom(proto)
    generator = np.random.default_rng(seed)
    for label, names in _onnx_steps(proto.graph, index):
        for name in names:
            tensor = current.graph.initializer[index[name]]
            values = random_like(numpy_helper.to_array(tensor), generator)
            tensor.CopyFrom(numpy_helper.from_array(values, name))
        step = onnx.ModelProto()
        step.CopyFrom(current)
        yield label, step


def _onnx_steps(graph: onnx.GraphProto, index: dict[str, int]) -> list[tuple[str, list[str]]]:
    """(node label, the initializers it is the last consumer of), last node first."""
    taken: set[str] = set()
    steps = []
    for position in range(len(graph.node) - 1, -1, -1):
        node = graph.node[position]
        names = [n for n in dict.fromkeys(node.input) if n in index and n not in taken]
        if names:
            taken.update(names)
            steps.append((node.name or f"{node.op_type}_{position}", names))
    return steps


def _randomisable(tensor: onnx.TensorProto) -> bool:
    from onnx import TensorProto

    floating = tensor.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
    if floating and tensor.data_location == TensorProto.EXTERNAL:
        raise UsageError(
            f"initializer {tensor.name!r} keeps its data in an external file; load the "
            "model with onnx.load(path, load_external_data=True) before randomising it"
        )
    return floating and math.prod(tensor.dims) > 1


def random_like(values: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """N(0, s^2) values of ``values``' shape and dtype, s its std (its RMS when constant):
    the draw every randomisation cascade makes, here and in the explanation stage's
    twin cascade, so that all cascades randomise alike."""
    as_float = values.astype(np.float64)
    scale = float(as_float.std()) if as_float.size > 1 else 0.0
    if scale == 0.0:
        scale = float(np.sqrt(np.mean(as_float**2)))
    return (generator.standard_normal(values.shape) * scale).astype(values.dtype)


def _defined(**correlations: float) -> dict[str, float]:
    """The correlations that are numbers: an undefined one (every attribution constant) is
    left out of the parameters, which a result must hold as finite JSON numbers."""
    return {name: value for name, value in correlations.items() if math.isfinite(value)}


def _mean_defined(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan
