"""Constant folding: the nodes of a graph whose inputs are all known, evaluated once.

The one folder the harness has. The FLOP counter folds an exporter's shape arithmetic so
shape inference can see through it; the twin's preparation folds constant subgraphs that
onnx2torch cannot convert. Each passes a ``FoldPolicy`` (which ops, how large a result);
the walk is the same:

- Node by node, in graph order (ONNX's order is topological, so one pass reaches every
  chain). A value is *known* when it is an initializer, a Constant node's output, the
  shape (or size) of a tensor whose shape the caller knows, or an output of a node that
  was evaluated before it.
- A default-domain, deterministic node without subgraphs whose inputs are all known is
  evaluated with onnx's reference evaluator. When the evaluator cannot run it (an op it
  lacks, or a failure on these values), the node stays and folding continues past it:
  what does not depend on it still folds.
- A folded node is removed and its outputs become initializers of the same names. A node
  that writes a graph output stays (the graph keeps its outputs as nodes), and so do
  Constant nodes, but their values are known to the nodes after them. Results larger than
  the policy allows are neither folded nor known.
- Nothing else changes: initializers that only folded nodes read stay (a caller that wants
  them gone calls ``drop_unread_initializers``), so every tensor the graph had still has a
  value or a producer, and its shape stays known to shape inference.

Deterministic: the same graph gives the same folded graph.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.core.onnx_graph import (
    add_initializer,
    attribute,
    copy_model,
    has_subgraph,
    is_default_domain,
    opset_version,
    walk_nodes,
)

if TYPE_CHECKING:
    import onnx

__all__ = ["FoldPolicy", "Folded", "drop_unread_initializers", "fold_constants"]

log = logging.getLogger(__name__)

# Ops whose output is not a function of their inputs: evaluating them once would freeze
# one draw.
_NONDETERMINISTIC = frozenset(
    {"Bernoulli", "Multinomial", "RandomNormal", "RandomNormalLike", "RandomUniform",
     "RandomUniformLike"}
)  # fmt: skip


@dataclass(frozen=True)
class FoldPolicy:
    """What may fold. ``ops``: the default-domain op types allowed (None: every
    deterministic one). ``max_elements``: a node folds only when its outputs together hold
    at most this many elements, or no more than its inputs together (a Transpose of a large
    weight folds; a ConstantOfShape that would blow up does not)."""

    ops: frozenset[str] | None = None
    max_elements: int = 1 << 20


@dataclass(frozen=True)
class Folded:
    """The folded copy of a model (the model itself when nothing folded), and how many
    nodes folded."""

    model: onnx.ModelProto
    folded: int


def fold_constants(
    model: onnx.ModelProto,
    policy: FoldPolicy,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> Folded:
    """``model`` with every foldable node of its main graph replaced by initializers.

    ``shapes`` (tensor name -> static shape, e.g. from shape inference) lets Shape and Size
    nodes fold on tensors that are not constants, and spares evaluating a node whose
    known output shapes are already too large. ``model`` is not changed.
    """
    folded = copy_model(model)
    graph = folded.graph
    walk = _Walk(folded, policy, shapes or {})
    kept = []
    for node in graph.node:
        values = walk.evaluate(node)
        if values is None or not walk.replaceable(node):
            kept.append(node)
            continue
        for name, value in values.items():
            add_initializer(folded, _tensor(value, name))
    count = len(graph.node) - len(kept)
    if not count:
        return Folded(model, 0)
    del graph.node[:]
    graph.node.extend(kept)
    return Folded(folded, count)


class _Walk:
    """The values known so far in one pass over a graph."""

    def __init__(
        self, model: onnx.ModelProto, policy: FoldPolicy, shapes: Mapping[str, tuple[int, ...]]
    ) -> None:
        self._policy = policy
        self._shapes = shapes
        self._opset = opset_version(model)
        self._initializers = {t.name: t for t in model.graph.initializer}
        self._outputs = {o.name for o in model.graph.output}
        self._values: dict[str, np.ndarray] = {}

    def replaceable(self, node: onnx.NodeProto) -> bool:
        """Whether an evaluated node may give way to initializers: not a Constant (it is
        one already) and not the writer of a graph output."""
        return node.op_type != "Constant" and not any(n in self._outputs for n in node.output)

    def evaluate(self, node: onnx.NodeProto) -> dict[str, np.ndarray] | None:
        """The node's output values (by name, omitted outputs left out) when the policy
        lets it be evaluated and it can be; they are known to later nodes from then on.
        None otherwise."""
        if not self._may_fold(node):
            return None
        values = self._shape_value(node)
        if values is None:
            feeds = self._feeds(node)
            if feeds is None or self._known_too_large(node, feeds):
                return None
            values = self._run(node, feeds)
            if values is None or not self._within_limit(values, feeds):
                return None
        self._values.update(values)
        return values

    def _may_fold(self, node: onnx.NodeProto) -> bool:
        allowed = self._policy.ops
        return (
            is_default_domain(node.domain)
            and node.op_type not in _NONDETERMINISTIC
            and (allowed is None or node.op_type in allowed or node.op_type == "Constant")
            and not has_subgraph(node)
            and any(node.output)
        )

    def _shape_value(self, node: onnx.NodeProto) -> dict[str, np.ndarray] | None:
        """Shape and Size of a tensor whose static shape the caller gave."""
        if node.op_type not in ("Shape", "Size") or not node.input:
            return None
        shape = self._shapes.get(node.input[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            value = np.array(math.prod(shape), dtype=np.int64)
        else:
            start, end = attribute(node, "start", 0), attribute(node, "end", len(shape))
            value = np.array(shape[start:end], dtype=np.int64)
        return {node.output[0]: value}

    def _feeds(self, node: onnx.NodeProto) -> dict[str, np.ndarray] | None:
        """The node's input values, or None when one is not known."""
        feeds = {}
        for name in node.input:
            if not name or name in feeds:
                continue
            value = self._value(name)
            if value is None:
                return None
            feeds[name] = value
        return feeds

    def _value(self, name: str) -> np.ndarray | None:
        if name not in self._values and name in self._initializers:
            from onnx import numpy_helper

            try:
                self._values[name] = numpy_helper.to_array(self._initializers[name])
            except Exception:  # data not loaded (external), or a type numpy cannot hold
                log.debug("initializer %r is not readable: not a constant here", name)
                return None
        return self._values.get(name)

    def _known_too_large(self, node: onnx.NodeProto, feeds: dict[str, np.ndarray]) -> bool:
        """Whether the caller's shapes already show the outputs past the limit (so the
        evaluation is not worth running)."""
        outputs = [self._shapes.get(name) for name in node.output if name]
        if any(shape is None for shape in outputs):
            return False
        size = sum(math.prod(shape) for shape in outputs if shape is not None)
        return size > self._limit(feeds)

    def _within_limit(self, values: dict[str, np.ndarray], feeds: dict[str, np.ndarray]) -> bool:
        if any(v.dtype == object for v in values.values()):
            return False  # strings, sequences: not a tensor an initializer can hold
        return sum(v.size for v in values.values()) <= self._limit(feeds)

    def _limit(self, feeds: dict[str, np.ndarray]) -> int:
        return max(self._policy.max_elements, sum(v.size for v in feeds.values()))

    def _run(
        self, node: onnx.NodeProto, feeds: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray] | None:
        from onnx.reference import ReferenceEvaluator

        try:
            evaluator = ReferenceEvaluator(node, opsets={"": self._opset})
            results = evaluator.run(None, feeds)
        except Exception:  # an op the evaluator lacks, or one it cannot run on these values
            log.debug("cannot fold %s node %r", node.op_type, node.name, exc_info=True)
            return None
        if len(results) != len(node.output):
            return None
        return {
            name: np.asarray(value)
            for name, value in zip(node.output, results, strict=True)
            if name
        }


def _tensor(value: np.ndarray, name: str) -> onnx.TensorProto:
    from onnx import numpy_helper

    return numpy_helper.from_array(value, name)


def drop_unread_initializers(model: onnx.ModelProto) -> int:
    """Remove, in place, the initializers that no node (of any subgraph) reads and no graph
    output names, from the initializers and the graph inputs; how many."""
    graph = model.graph
    read = {name for node in walk_nodes(graph) for name in node.input}
    read |= {o.name for o in graph.output}
    unread = {t.name for t in graph.initializer if t.name not in read}
    if not unread:
        return 0
    kept = [t for t in graph.initializer if t.name not in unread]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [i for i in graph.input if i.name not in unread]
    del graph.input[:]
    graph.input.extend(inputs)
    return len(unread)
