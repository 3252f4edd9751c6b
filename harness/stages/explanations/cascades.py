"""The randomisation cascades the sanity check walks, and the layer counts it records.

    torch_cascade (explainers.metrics)   a PyTorch module, module by module
    graph_cascade                        an onnx2torch twin, ONNX node by node: each node's
                                         own parameters and the initializers it reads
    onnx_cascade (explainers.metrics)    an ONNX graph's initializers, node by node

``limited`` cuts a cascade to the budget's depth and always closes it, so the weights an
in-place cascade randomised come back.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.explainers.metrics.randomisation import random_like

__all__ = [
    "graph_cascade",
    "graph_layer_count",
    "limited",
    "module_layer_count",
    "onnx_layer_count",
]


def limited(
    cascade: Iterator[tuple[str, Any]], depth: int | None
) -> Generator[tuple[str, Any], None, None]:
    """The first ``depth`` steps of ``cascade`` (all with None); closes it on the way out,
    so a torch cascade restores the weights."""
    try:
        for step, item in enumerate(cascade):
            if depth is not None and step >= depth:
                return
            yield item
    finally:
        close = getattr(cascade, "close", None)
        if callable(close):
            close()


def graph_cascade(
    graph_module: nn.Module, labels: dict[str, str], *, seed: int = 0
) -> Generator[tuple[str, nn.Module], None, None]:
    """Randomise an onnx2torch GraphModule node by node from the output down, as
    ``explainers.metrics.onnx_cascade`` does for the graph: each step draws the node's
    module's own parameters and the initializers (buffers) it reads, N(0, s^2) with s the
    original's std (its RMS when constant); a tensor shared by nodes goes with the later
    one. ``labels`` maps submodule names to ONNX node names. Restores every tensor when
    the iteration ends."""
    steps = list(_graph_steps(graph_module))
    saved = {id(t): (t, t.detach().clone()) for _, tensors in steps for t in tensors}
    generator = np.random.default_rng(seed)
    try:
        for target, tensors in steps:
            with torch.no_grad():
                for tensor in tensors:
                    values = random_like(tensor.detach().cpu().double().numpy(), generator)
                    tensor.copy_(torch.from_numpy(values).to(tensor))
            yield labels.get(target, target), graph_module
    finally:
        with torch.no_grad():
            for tensor, original in saved.values():
                tensor.copy_(original)


def _graph_steps(graph_module: nn.Module) -> Iterator[tuple[str, list[torch.Tensor]]]:
    graph = getattr(graph_module, "graph", None)
    if graph is None:
        return
    children = dict(graph_module.named_children())
    taken: set[int] = set()
    for node in reversed(list(graph.nodes)):
        if node.op != "call_module" or node.target not in children:
            continue
        tensors: list[torch.Tensor] = list(children[node.target].parameters(recurse=False))
        for arg in node.all_input_nodes:
            if arg.op == "get_attr":
                tensors.append(_attribute(graph_module, str(arg.target)))
        fresh = [t for t in tensors if _randomisable(t) and id(t) not in taken]
        if fresh:
            taken.update(id(t) for t in fresh)
            yield str(node.target), fresh


def _attribute(module: nn.Module, dotted: str) -> torch.Tensor:
    owner, _, name = dotted.rpartition(".")
    holder = dict(module.named_modules())[owner] if owner else module
    value = getattr(holder, name)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{dotted} is not a tensor")
    return value


def _randomisable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.numel() > 1


def graph_layer_count(graph_module: nn.Module) -> int:
    return sum(1 for _ in _graph_steps(graph_module))


def module_layer_count(module: nn.Module) -> int:
    """Steps ``explainers.metrics.torch_cascade`` takes: modules owning parameters."""
    return sum(1 for m in module.modules() if next(m.parameters(recurse=False), None) is not None)


def onnx_layer_count(proto: Any) -> int:
    """Steps ``explainers.metrics.onnx_cascade`` takes: nodes that are the last consumer of
    a floating-point initializer with more than one element."""
    from onnx import TensorProto

    floating = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
    names = {
        t.name
        for t in proto.graph.initializer
        if t.data_type in floating and int(np.prod(t.dims, dtype=np.int64)) > 1
    }
    taken: set[str] = set()
    count = 0
    for node in reversed(proto.graph.node):
        fresh = [n for n in node.input if n in names and n not in taken]
        if fresh:
            taken.update(fresh)
            count += 1
    return count
