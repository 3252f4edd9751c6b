"""Where an ONNX graph embeds its integer inputs: the node gradient methods attribute at.

Gradients cannot reach integer ids; token methods attribute at the embedding's output
instead, (batch, seq, dim) floats summed per token. Exports write an embedding three ways:

    Gather    a float table (an initializer) indexed by the ids: nn.Embedding, in every
              exporter; the ids possibly cast, reshaped, offset (ByT5 adds 3), clipped
    one-hot   OneHot(ids), or Equal(ids, range) cast to float, times a float table by
              MatMul or Gemm: Keras and tf2onnx exports, code written to avoid gathers
    (none)    ids cast to float and used as numbers: not an embedding, nothing found

The search runs on the graph the twin was converted from (after preparation, so Constant
tables are initializers and node keys are the twin's). A Gather indexed by the ids
themselves (through value-keeping ops) wins; otherwise the first, in graph order, of the
Gathers and one-hot products whose indices depend on the ids' values (a Shape of the ids
carries no values: position ids made from the length do not count).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.core.onnx_graph import is_default_domain, pass_through_aliases

__all__ = ["embedding_nodes", "node_key", "value_dependents"]

# Ops that pass token ids on unchanged in value (an export may cast or reshape them).
ID_PRESERVING = frozenset({"Cast", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten"})
# Ops whose output depends on their input's shape only, never on its values.
_SHAPE_ONLY = frozenset({"Shape", "Size"})
# Ops a one-hot passes through on its way to the table's product.
_LAYOUT = frozenset({"Cast", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten"})
# TensorProto element types of a float table: FLOAT, FLOAT16, DOUBLE, BFLOAT16.
_FLOAT_TYPES = frozenset({1, 10, 11, 16})


def node_key(node: Any, index: int) -> str:
    """The twin's key for a node: its name, or ``op_type#index`` for an unnamed one."""
    return str(node.name or f"{node.op_type}#{index}")


def value_dependents(graph: Any, name: str) -> set[str]:
    """``name`` and every main-graph tensor whose values depend on its values."""
    dependent = {name}
    for node in graph.node:  # graph order is topological
        shape_only = is_default_domain(node.domain) and node.op_type in _SHAPE_ONLY
        if not shape_only and any(i in dependent for i in node.input if i):
            dependent.update(o for o in node.output if o)
    return dependent


def embedding_nodes(graph: Any, ids: str) -> Iterator[tuple[int, Any]]:
    """(index, node) of each candidate embedding of input ``ids``, best first."""
    tables = _float_tables(graph)
    aliases = pass_through_aliases(graph, ids, ID_PRESERVING)
    dependent = value_dependents(graph, ids)
    nodes = list(enumerate(graph.node))
    direct = [i for i, n in nodes if _is_gather(n, tables) and n.input[1] in aliases]
    yield from ((i, nodes[i][1]) for i in direct)
    one_hots = _one_hot_tensors(graph, dependent)
    for index, node in nodes:
        if index in direct:
            continue
        gathers = _is_gather(node, tables) and node.input[1] in dependent
        if gathers or _is_table_product(node, tables, one_hots):
            yield index, node


def _float_tables(graph: Any) -> set[str]:
    return {t.name for t in graph.initializer if t.data_type in _FLOAT_TYPES and len(t.dims) >= 2}


def _is_gather(node: Any, tables: set[str]) -> bool:
    return (
        is_default_domain(node.domain)
        and node.op_type == "Gather"
        and len(node.input) == 2
        and node.input[0] in tables
    )


def _one_hot_tensors(graph: Any, dependent: set[str]) -> set[str]:
    """Tensors holding a one-hot of the ids: a OneHot of them, or an Equal with them
    (against a range), and what those become through casts and reshapes."""
    found: set[str] = set()
    for node in graph.node:
        if not is_default_domain(node.domain):
            continue
        starts = node.op_type in ("OneHot", "Equal") and any(i in dependent for i in node.input)
        carries = node.op_type in _LAYOUT and bool(node.input) and node.input[0] in found
        if starts or carries:
            found.update(o for o in node.output if o)
    return found


def _is_table_product(node: Any, tables: set[str], one_hots: set[str]) -> bool:
    if not is_default_domain(node.domain) or node.op_type not in ("MatMul", "Gemm"):
        return False
    first, second = node.input[0], node.input[1]
    return (first in one_hots and second in tables) or (second in one_hots and first in tables)
