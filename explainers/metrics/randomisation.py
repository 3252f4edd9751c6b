"""Model parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency
maps"), cascading from the top layer.

An explanation that explains the model must change when the model's learned weights are
destroyed. The cascade randomises the layers one at a time from the output down (step k:
the top k layers random); at each step the explanation is recomputed and compared with
the original one, per sample, by the Spearman rank correlation of the feature
attributions (magnitudes, with ``absolute``). ``value`` is the mean correlation after the
last step (the whole cascade); ``curve`` holds (step, mean correlation) for every step,
and ``parameters["layers"]`` names the layers in cascade order. Lower is better: a method
whose attributions stay correlated above ``threshold`` fails ``passes_sanity``.

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
from harness.explainers.metrics._features import GroupReduce, features
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
    interruptions: tuple[type[BaseException], ...] = (),
) -> MetricResult:
    """Spearman correlation between the original explanation and the explanation after
    each step of ``cascade``; ``cascade`` is closed (weights restored) on the way out. An
    exception in ``interruptions`` ends the cascade early with the steps done (the original
    explanation itself is not a step: interrupted there, it propagates)."""

    def ranked(state: State) -> tuple[np.ndarray, ...]:
        per_feature = features(explain(state), None, feature_mask, group_reduce).attributions
        return tuple(np.abs(a) if absolute else a for a in per_feature)

    reference = ranked(original)
    layers: list[str] = []
    steps: list[list[float]] = []
    iterator = iter(cascade)
    interrupted: str | None = None
    try:
        for layer, state in iterator:
            try:
                randomised = ranked(state)
            except interruptions as exc:
                interrupted = str(exc) or type(exc).__name__
                break
            if [a.size for a in randomised] != [a.size for a in reference]:
                raise UsageError(
                    f"after randomising {layer!r} the attributions changed shape; explain "
                    "must return one shape for every state"
                )
            steps.append([spearman(a, b) for a, b in zip(reference, randomised, strict=True)])
            layers.append(layer)
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()
    if not steps and interrupted is not None:
        return _interrupted_before_any_step(interrupted)
    if not steps:
        raise UsageError("the cascade randomised no layer: the model has no parameters to test")
    extra: dict[str, str | int | float] = {"complete": int(interrupted is None)}
    if interrupted is not None:
        extra["interrupted"] = interrupted
    return metric_result(
        "mprt",
        steps[-1],
        higher_is_better=False,
        parameters={
            "cascade": "top_down",
            "correlation": "spearman",
            "absolute": int(absolute),
            "n_layers": len(layers),
            "layers": ",".join(layers),
            **extra,
        },
        curve=[(k + 1, _mean_defined(values)) for k, values in enumerate(steps)],
    )


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
    """ "pass" or "fail" for a cascade that ran every planned step, else "inconclusive": a
    partial cascade says nothing about the layers it did not reach."""
    if not int(result.parameters.get("complete", 1)):
        return "inconclusive"
    return "pass" if passes_sanity(result, threshold) else "fail"


def passes_sanity(result: MetricResult, threshold: float = 0.5) -> bool:
    """True when the randomised model's attributions correlate with the original ones below
    ``threshold``; an undefined correlation (constant attributions) does not pass."""
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


def _mean_defined(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan
