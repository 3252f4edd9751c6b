"""Reading an ONNX graph: op identity, element sizes, opsets, shapes, and walks over nodes.

One home for the small questions every ONNX consumer of the harness asks (the loader, the
FLOP counter, the twin's preparation, the attention probes), so they get one answer. It is
in the core because the explainers, which may import only the core, ask them too.

Domains: ``""`` and ``"ai.onnx"`` both name the default ONNX domain; every helper here
treats them as one, and reports it as ``""``.

onnx is imported inside the functions (the core stays cheap to import); the annotations
name its types only for the type checker.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

__all__ = [
    "add_initializer",
    "attribute",
    "constant_names",
    "consumers",
    "copy_model",
    "element_types",
    "has_subgraph",
    "infer_shapes",
    "is_default_domain",
    "is_op",
    "item_size",
    "node_outputs",
    "op_identity",
    "op_name",
    "opset_version",
    "pass_through_aliases",
    "producers",
    "ranks",
    "static_shapes",
    "subgraphs",
    "tensor_bytes",
    "tensor_elements",
    "walk_graphs",
    "walk_nodes",
]

log = logging.getLogger(__name__)

_DEFAULT_DOMAINS = frozenset({"", "ai.onnx"})

# The opset assumed for a domain the model does not import. onnx's checker does the same:
# a model of IR version < 3 (before opset_import existed) without an import for the default
# domain is read as opset 1, and one of IR >= 3 without it is invalid (it may not hold a
# default-domain node). So every model the checker accepts that reaches a fallback is the
# legacy kind, and 1 is its opset; the latest opset would give it ops it never had.
_UNIMPORTED_OPSET = 1


# ------------------------------------------------------------------------- op identity


def is_default_domain(domain: str) -> bool:
    """Whether ``domain`` names the default ONNX domain (``""`` or ``"ai.onnx"``)."""
    return domain in _DEFAULT_DOMAINS


def op_identity(node: onnx.NodeProto) -> tuple[str, str]:
    """(domain, op type), the default domain as ``""``: what tells two ops apart."""
    return ("" if is_default_domain(node.domain) else node.domain), node.op_type


def is_op(node: onnx.NodeProto, op_type: str, domain: str = "") -> bool:
    """Whether ``node`` is ``op_type`` of ``domain`` (the default domain unless given)."""
    wanted = "" if is_default_domain(domain) else domain
    return op_identity(node) == (wanted, op_type)


def op_name(node: onnx.NodeProto) -> str:
    """The op as the result names it: ``Relu`` in the default domain,
    ``com.example.MysteryOp`` in any other."""
    domain, op_type = op_identity(node)
    return f"{domain}.{op_type}" if domain else op_type


def attribute(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    """The value of the node's attribute ``name`` (strings as bytes, as onnx gives them),
    or ``default`` when the node does not set it."""
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


# ----------------------------------------------------------------- element types, sizes


def item_size(elem_type: int) -> int:
    """Bytes per element of ONNX element type ``elem_type`` (numpy's item size of the
    type onnx maps it to); 0 for undefined, strings and types without a fixed size."""
    from onnx import helper

    try:
        dtype = helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, ValueError, TypeError):
        return 0
    # Strings map to numpy's object dtype, whose item size is a pointer's, not a string's.
    return 0 if dtype.hasobject else int(dtype.itemsize)


def tensor_elements(tensor: onnx.TensorProto) -> int:
    """Elements of an initializer, from its dims (its data is not read)."""
    return math.prod(tensor.dims)


def tensor_bytes(tensor: onnx.TensorProto) -> int:
    """Bytes of an initializer's values: elements times item size (0 for strings)."""
    return tensor_elements(tensor) * item_size(tensor.data_type)


# ------------------------------------------------------------------------------ opsets


def opset_version(model: onnx.ModelProto, domain: str = "") -> int:
    """The opset version ``model`` imports for ``domain`` (``""`` and ``"ai.onnx"`` alike);
    1 when it imports none, as onnx's checker reads a legacy model without opset_import."""
    wanted = "" if is_default_domain(domain) else domain
    for entry in model.opset_import:
        if ("" if is_default_domain(entry.domain) else entry.domain) == wanted:
            return int(entry.version)
    return _UNIMPORTED_OPSET


# ------------------------------------------------------------------------------ shapes


def infer_shapes(model: onnx.ModelProto, *, data_prop: bool = False) -> onnx.ModelProto | None:
    """A copy of ``model`` with every type and shape ONNX shape inference finds (with
    ``data_prop``, shapes computed from Shape, Gather, Concat and the like too); None
    when inference fails on this graph."""
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=data_prop)
    except Exception as exc:  # inference raises InferenceError, RuntimeError, ValueError, ...
        log.debug("ONNX shape inference failed: %s", exc)
        return None


def static_shapes(graph: onnx.GraphProto) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, for the tensors whose every dim is a number: from the graph's
    inputs, value_info and outputs, and every initializer (whose dims are its shape)."""
    shapes = {}
    for value in _values(graph):
        shape = value.type.tensor_type.shape
        if all(d.HasField("dim_value") for d in shape.dim):
            shapes[value.name] = tuple(int(d.dim_value) for d in shape.dim)
    shapes.update((t.name, tuple(int(d) for d in t.dims)) for t in graph.initializer)
    return shapes


def ranks(graph: onnx.GraphProto) -> dict[str, int]:
    """Tensor name -> rank, for every tensor declared with a shape (its dims may be
    symbolic or unknown) and every initializer."""
    found = {value.name: len(value.type.tensor_type.shape.dim) for value in _values(graph)}
    found.update((t.name, len(t.dims)) for t in graph.initializer)
    return found


def element_types(graph: onnx.GraphProto) -> dict[str, int]:
    """Tensor name -> ONNX element type, for the tensors that declare one and every
    initializer."""
    types = {
        value.name: value.type.tensor_type.elem_type
        for value in (*graph.input, *graph.value_info, *graph.output)
        if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type
    }
    types.update((t.name, t.data_type) for t in graph.initializer)
    return types


def _values(graph: onnx.GraphProto) -> Iterator[onnx.ValueInfoProto]:
    """The graph's inputs, value_info and outputs that are tensors with a shape."""
    for value in (*graph.input, *graph.value_info, *graph.output):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            yield value


# ------------------------------------------------------------------------- node walks


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node of ``graph`` that writes it (main graph only)."""
    return {name: node for node in graph.node for name in node.output if name}


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes of ``graph`` that read it, each once, in graph order."""
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in dict.fromkeys(node.input):
            if name:
                readers.setdefault(name, []).append(node)
    return readers


def node_outputs(graph: onnx.GraphProto) -> list[str]:
    """Every tensor a node of ``graph`` writes, in graph order (omitted outputs skipped)."""
    return [name for node in graph.node for name in node.output if name]


def constant_names(graph: onnx.GraphProto) -> set[str]:
    """Tensors whose value the graph fixes: initializers and Constant nodes' outputs."""
    names = {t.name for t in graph.initializer}
    names.update(n.output[0] for n in graph.node if is_op(n, "Constant") and n.output)
    return names


def pass_through_aliases(graph: onnx.GraphProto, name: str, ops: Iterable[str]) -> set[str]:
    """``name`` and every tensor computed from it, as their first input, by a chain of
    default-domain ``ops`` (ops that keep its values: Cast, Reshape, Identity, ...)."""
    keeping = frozenset(ops)
    aliases = {name}
    for node in graph.node:  # graph order is topological: one pass follows every chain
        reads_alias = bool(node.input) and node.input[0] in aliases
        if reads_alias and is_default_domain(node.domain) and node.op_type in keeping:
            aliases.update(o for o in node.output if o)
    return aliases


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    """The graphs held in the node's attributes (If branches, Loop and Scan bodies)."""
    from onnx import AttributeProto

    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == AttributeProto.GRAPHS:
            yield from attr.graphs


def has_subgraph(node: onnx.NodeProto) -> bool:
    return next(subgraphs(node), None) is not None


def walk_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph``, then every graph nested in its nodes, depth first."""
    yield graph
    for node in graph.node:
        for sub in subgraphs(node):
            yield from walk_graphs(sub)


def walk_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of ``graph`` and of the graphs nested in it, each node before the nodes
    of its own subgraphs."""
    for node in graph.node:
        yield node
        for sub in subgraphs(node):
            yield from walk_nodes(sub)


def add_initializer(model: onnx.ModelProto, tensor: onnx.TensorProto) -> None:
    """Append ``tensor`` to the main graph's initializers (and, for a model of IR version
    < 4, where every initializer is also a graph input, to its inputs)."""
    from onnx import helper

    model.graph.initializer.append(tensor)
    if model.ir_version < 4:
        model.graph.input.append(
            helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
        )


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy: the protobuf messages are mutable and shared otherwise."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
