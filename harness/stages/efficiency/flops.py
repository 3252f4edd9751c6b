"""The arithmetic of one inference: FLOPs and MACs per op type, from an ONNX graph or a module.

ONNX: the audit's concrete input shapes are written into a copy of the graph, ONNX shape
inference (with data propagation, so Reshape targets computed from Shape resolve) gives
every tensor's shape, and each node is costed from the shapes of its inputs and outputs.
Where inference stops (shape arithmetic it does not follow), the small shape computations
are folded to constants node by node and inference runs again; the tensors still unknown
after that are observed: the graph runs once in onnxruntime at the audit's inputs with
them promoted to outputs (``observed_shapes``), and the shapes it returns stand in.

A multiply-accumulate (MAC) is two FLOPs. A fused op costs what its usual decomposition
into elementwise ops costs, so an exporter's choice between the two does not change the
total. The rules (n = elements of the node's first output, n_in = of its first input,
k = kernel, g = group, dims = the size of every index letter):

    op                            FLOPs                                    MACs
    MatMul, MatMulInteger         2 * n * K  (A is (..., M, K))            n * K
    Gemm                          2 * M * N * K  (+ M * N with C)          M * N * K
    Conv                          2 * MACs (+ n bias)                      n * Cin/g * prod(k)
    ConvTranspose                 2 * MACs (+ n bias)                      n_in * Cout/g * prod(k)
    Einsum (no "...")             2 * MACs                                 (operands-1) * prod(dims)
    RNN, GRU, LSTM                2 * MACs + per step and hidden unit:     T*B*dirs*gates*H*(I+H)
                                    gate sums, biases, and the cell's
                                    elementwise ops (RNN 1, GRU 8, LSTM 9)
    elementwise (Add, Relu, Erf,  n  (one per output element; a            0
      Where, Clip, Sigmoid, ...)    transcendental counts as one)
    Sum, Max, Min, Mean           n * (inputs - 1)  (+ n for Mean)         0
    Softmax, LogSoftmax           5 * n  (max, subtract, exp, sum, divide) 0
    Layer-, Instance-, Group-     8 * n  (mean, subtract, square, mean,    0
      Normalization                 divide, scale, shift, ~1 per row)
    BatchNormalization            2 * n  (at inference: scale and shift)   0
    Gelu                          5 * n  (x/sqrt2, erf, +1, *x, *0.5)      0
    (De)QuantizeLinear            2 * n                                    0
    Reduce*, ArgMax, ArgMin,      n_in  (one per input element)            0
      CumSum, Global*Pool
    AveragePool, MaxPool, LpPool  n * prod(kernel_shape)                   0
    data movement (Reshape,       0, and counted (not "uncounted")         0
      Transpose, Gather, Concat, Slice, Cast, Constant, Expand, Pad, ...,
      Resize/Upsample in "nearest" mode)

Anything else, an op in a non-default domain, an op whose shapes are still unknown, or a
node with subgraphs (If, Loop, Scan: their bodies are not walked) has an unknown cost: it
adds 0 and is listed in ``uncounted_ops``. Conv padding is counted as work (as torch's
FlopCounterMode does); Gemm's alpha and beta scalings are not.

The count is *complete* unless the unknown costs could hide much of the work; it is
*incomplete* (``Work.status``, with ``incomplete_reason``) when more than
``UNKNOWN_SHARE_LIMIT`` (5%) of the graph's nodes have an unknown cost, or when any of
them is a matrix product or convolution (``_HEAVY_OP_WORDS`` in its op type: MatMul, Gemm,
Conv, Attention, Einsum, LSTM, GRU, RNN, in any domain), where most of a model's work is.
An incomplete count is a lower bound that no reader shows or judges as the model's.

PyTorch: ``torch.utils.flop_counter.FlopCounterMode`` counts matrix products, convolutions
and attention only; everything else in a module is not seen by it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper

from harness.core.constant_folding import FoldPolicy, fold_constants
from harness.core.efficiency import NodeFlops, OpFlops, Work
from harness.core.onnx_graph import (
    attribute,
    copy_model,
    element_types,
    has_subgraph,
    infer_shapes,
    is_default_domain,
    item_size,
    op_name,
    static_shapes,
    tensor_bytes,
    tensor_elements,
)
from harness.intake.onnx_model import weight_tensors
from harness.stages.efficiency.observed_shapes import ObservedTensor, observe_shapes

if TYPE_CHECKING:
    from torch import nn

__all__ = ["UNKNOWN_SHARE_LIMIT", "count_onnx_work", "count_torch_work"]

logger = logging.getLogger(__name__)

Cost = tuple[int, int]  # (flops, macs)
Unknown = str  # why a node's cost is unknown, in words

# A count is incomplete when more than this share of the graph's nodes have an unknown cost,
# or when any of those is a heavy op (a word of _HEAVY_OP_WORDS in its op type, any domain):
# one uncounted MatMul can hold more work than every elementwise op of a model together.
UNKNOWN_SHARE_LIMIT = 0.05
_HEAVY_OP_WORDS = ("MatMul", "Gemm", "Conv", "Attention", "Einsum", "LSTM", "GRU", "RNN")

# Initializers larger than this (and not integer, so never shape data) are declared as
# graph inputs in the copy given to shape inference: it needs their shapes, not their bytes.
_LIGHTEN_ABOVE_ELEMENTS = 1024
_SHAPE_DATA_TYPES = frozenset({onnx.TensorProto.INT64, onnx.TensorProto.INT32})
# Shape computations folded to constants when inference leaves shapes unknown: any
# deterministic op, on small tensors (shape data, not weights).
_MAX_FOLD_ROUNDS = 4
_FOLD_POLICY = FoldPolicy(ops=None, max_elements=1024)

_DATA_MOVEMENT = frozenset(
    {
        "Cast", "CastLike", "Compress", "Concat", "Constant", "ConstantOfShape",
        "DepthToSpace", "Dropout", "Expand", "EyeLike", "Flatten", "Gather",
        "GatherElements", "GatherND", "Identity", "NonZero", "OneHot", "Pad", "Range",
        "Reshape", "ReverseSequence", "Scatter", "ScatterElements", "ScatterND", "Shape",
        "Size", "Slice", "SpaceToDepth", "Split", "Squeeze", "Tile", "Transpose", "Trilu",
        "Unsqueeze",
    }
)  # fmt: skip

_ELEMENTWISE = frozenset(
    {
        "Abs", "Acos", "Acosh", "Add", "And", "Asin", "Asinh", "Atan", "Atanh", "BitShift",
        "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "Ceil", "Celu", "Clip", "Cos",
        "Cosh", "Div", "Elu", "Equal", "Erf", "Exp", "Floor", "Greater", "GreaterOrEqual",
        "HardSigmoid", "HardSwish", "IsInf", "IsNaN", "LeakyRelu", "Less", "LessOrEqual",
        "Log", "Mish", "Mod", "Mul", "Neg", "Not", "Or", "Pow", "PRelu", "Reciprocal",
        "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus",
        "Softsign", "Sqrt", "Sub", "Tan", "Tanh", "ThresholdedRelu", "Where", "Xor",
    }
)  # fmt: skip

_PER_OUTPUT_ELEMENT = {
    "Softmax": 5,
    "LogSoftmax": 5,
    "LayerNormalization": 8,
    "InstanceNormalization": 8,
    "GroupNormalization": 8,
    "BatchNormalization": 2,
    "Gelu": 5,
    "QuantizeLinear": 2,
    "DequantizeLinear": 2,
}

_PER_INPUT_ELEMENT = frozenset(
    {
        "ArgMax", "ArgMin", "CumSum", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool",
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare",
    }
)  # fmt: skip

_VARIADIC = frozenset({"Sum", "Max", "Min", "Mean"})

# Recurrent ops: gates per step, and elementwise ops per hidden unit in the cell.
_RECURRENT = {"RNN": (1, 1), "GRU": (3, 8), "LSTM": (4, 9)}


class _UnknownShape(Exception):
    """A tensor the rule needs has no inferred concrete shape."""


class _Tensors:
    """Shapes and element types of the graph's tensors after inference (and observation)."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.shapes = static_shapes(graph)
        self.elem_types = element_types(graph)

    def unknown(self, graph: onnx.GraphProto) -> set[str]:
        """The values of GRAPH's nodes (read or written) with no concrete shape."""
        names = {name for node in graph.node for name in (*node.input, *node.output) if name}
        return names - self.shapes.keys()

    def add_observed(self, observed: Mapping[str, ObservedTensor]) -> None:
        """Shapes (and types) seen at run time, for the tensors inference left unknown."""
        for name, (shape, elem_type) in observed.items():
            self.shapes.setdefault(name, shape)
            if elem_type:
                self.elem_types.setdefault(name, elem_type)

    def shape(self, name: str) -> tuple[int, ...]:
        shape = self.shapes.get(name)
        if shape is None:
            raise _UnknownShape(name)
        return shape

    def bytes(self, name: str) -> int:
        shape, itemsize = self.shapes.get(name), item_size(self.elem_types.get(name, 0))
        return math.prod(shape) * itemsize if shape is not None else 0


# ---------------------------------------------------------------------------- ONNX


def count_onnx_work(
    proto: onnx.ModelProto,
    input_shapes: dict[str, tuple[int, ...]],
    *,
    top: int = 10,
    inputs: Mapping[str, np.ndarray] | None = None,
    threads: int | None = None,
) -> Work:
    """FLOPs, MACs and bytes of one inference of ``proto`` at ``input_shapes`` (input
    name -> concrete shape; inputs not named keep their declared shapes).

    ``inputs`` (the audit's arrays, of those shapes): when shapes stay unknown after
    inference and folding, the graph runs once in onnxruntime (``threads`` intra-op
    threads) on them to observe the rest. Without them, those nodes' cost is unknown."""
    # Shapes come from the inferred copy; the nodes counted are the caller's own.
    tensors = _Tensors(_inferred_graph(proto, input_shapes))
    unknown_shapes = tensors.unknown(proto.graph)
    if inputs is not None and unknown_shapes:
        logger.info("%d tensor shapes not inferred; observing them", len(unknown_shapes))
        tensors.add_observed(observe_shapes(proto, inputs, unknown_shapes, threads=threads))
    nodes: list[tuple[str, str, int, int]] = []  # name, op type, flops, macs
    unknown: Counter[tuple[str, Unknown]] = Counter()  # (op, why) -> nodes
    for index, node in enumerate(proto.graph.node):
        op = op_name(node)
        cost = _node_cost(node, tensors)
        if isinstance(cost, str):
            unknown[(op, cost)] += 1
            continue
        nodes.append((node.name or f"{node.op_type}#{index}", op, *cost))
    if unknown:
        logger.info("FLOPs not counted (cost unknown) for %s", _unknown_text(unknown))
    weight_bytes = sum(tensor_bytes(t) for t in weight_tensors(proto))
    activation_bytes = sum(
        tensors.bytes(out) for node in proto.graph.node for out in node.output if out
    )
    return _work(
        batch_size=_onnx_batch_size(proto, input_shapes, tensors),
        nodes=nodes,
        completeness=_completeness(unknown, len(proto.graph.node)),
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        top=top,
    )


@dataclass(frozen=True)
class _Completeness:
    """Which op types have an unknown cost, on what share of the nodes, and why the count
    is incomplete (None: it is complete)."""

    uncounted: frozenset[str]
    share: float
    reason: str | None


_COMPLETE = _Completeness(frozenset(), 0.0, None)


def _completeness(unknown: Counter[tuple[str, Unknown]], total_nodes: int) -> _Completeness:
    """Complete unless more than UNKNOWN_SHARE_LIMIT of the nodes, or any heavy node, have
    an unknown cost (see the module's docstring); the reason says which and why."""
    count = sum(unknown.values())
    share = count / total_nodes if total_nodes else 0.0
    uncounted = {op for op, _ in unknown}
    heavy = sorted(op for op in uncounted if _is_heavy(op))
    of = f"the cost of {count} of {total_nodes} nodes ({share:.1%}) is unknown"
    if heavy:
        reason = f"{of}, among them {', '.join(heavy)}, where most of the work is"
    elif share > UNKNOWN_SHARE_LIMIT:
        reason = f"{of}, over the {UNKNOWN_SHARE_LIMIT:.0%} limit"
    else:
        return _Completeness(frozenset(uncounted), share, None)
    return _Completeness(frozenset(uncounted), share, f"{reason}: {_unknown_text(unknown)}")


def _is_heavy(op: str) -> bool:
    op_type = op.rsplit(".", 1)[-1]  # "com.microsoft.FusedMatMul" -> "FusedMatMul"
    return any(word in op_type for word in _HEAVY_OP_WORDS)


def _unknown_text(unknown: Counter[tuple[str, Unknown]], most: int = 6) -> str:
    """``MatMul x4 (shapes unknown), com.example.Op x1 (custom-domain op), ...``: the most
    frequent first."""
    ranked = sorted(unknown.items(), key=lambda item: (-item[1], item[0]))
    parts = [f"{op} x{n} ({why})" for (op, why), n in ranked[:most]]
    if len(ranked) > most:
        parts.append(f"{len(ranked) - most} more")
    return ", ".join(parts)


def _inferred_graph(
    proto: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.GraphProto:
    """The graph with every shape ONNX inference can find at ``input_shapes``.

    Exporters compute Reshape targets and Slice bounds with arithmetic that ONNX's data
    propagation does not follow (``Mod``, ``Slice`` with computed bounds): while shapes
    stay unknown, the small shape computations are folded to initializers in the copy
    (``harness.core.constant_folding``), and inference runs again.
    """
    model = _shaped_copy(proto, input_shapes)
    graph = _infer(model)
    for _ in range(_MAX_FOLD_ROUNDS):
        shapes = static_shapes(graph)
        if all(out in shapes for n in graph.node for out in n.output if out):
            break
        folding = fold_constants(model, _FOLD_POLICY, shapes)
        if not folding.folded:
            break
        model = folding.model
        graph = _infer(model)
    return graph


def _shaped_copy(
    proto: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.ModelProto:
    model = copy_model(proto)
    graph = model.graph
    declared = {value.name for value in graph.input}
    unknown = sorted(set(input_shapes) - declared)
    if unknown:
        raise ValueError(
            f"input shapes given for {unknown}, which are not inputs of the graph; "
            f"its inputs are {sorted(declared)}"
        )
    _lighten(graph)
    for value in graph.input:
        if value.name in input_shapes and value.type.HasField("tensor_type"):
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in input_shapes[value.name]:
                dims.add().dim_value = int(size)
    # Declared intermediate and output shapes may hold symbolic dims: infer them afresh.
    del graph.value_info[:]
    for value in graph.output:
        if value.type.HasField("tensor_type"):
            value.type.tensor_type.ClearField("shape")
    return model


def _infer(model: onnx.ModelProto) -> onnx.GraphProto:
    inferred = infer_shapes(model, data_prop=True)
    if inferred is None:
        logger.warning("ONNX shape inference failed; ops needing shapes are uncounted")
        return model.graph
    return inferred.graph


def _lighten(graph: onnx.GraphProto) -> None:
    """Declare large non-integer initializers as inputs instead, so the copy handed to
    shape inference stays small (and under protobuf's 2 GB limit)."""
    declared = {value.name for value in graph.input}
    keep = []
    for tensor in graph.initializer:
        if (
            tensor_elements(tensor) > _LIGHTEN_ABOVE_ELEMENTS
            and tensor.data_type not in _SHAPE_DATA_TYPES
        ):
            if tensor.name not in declared:
                graph.input.append(
                    helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
                )
        else:
            keep.append(tensor)
    del graph.initializer[:]
    graph.initializer.extend(keep)


def _node_cost(node: onnx.NodeProto, tensors: _Tensors) -> Cost | Unknown:
    """(flops, macs) of one node, or why its cost is unknown."""
    if not is_default_domain(node.domain):
        return "custom-domain op"
    if has_subgraph(node):
        return "subgraphs not walked"
    op = node.op_type
    if op in _DATA_MOVEMENT or (op in ("Resize", "Upsample") and _mode(node) == "nearest"):
        return 0, 0
    try:
        if op in _ELEMENTWISE:
            return _numel(tensors.shape(node.output[0])), 0
        if op in _PER_OUTPUT_ELEMENT:
            return _PER_OUTPUT_ELEMENT[op] * _numel(tensors.shape(node.output[0])), 0
        if op in _PER_INPUT_ELEMENT:
            return _numel(tensors.shape(node.input[0])), 0
        rule = _RULES.get(op)
        cost = rule(node, tensors) if rule is not None else None
        return "no cost rule" if cost is None else cost
    except _UnknownShape:
        return "shapes unknown"


def _matmul(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    k = tensors.shape(node.input[0])[-1]
    macs = _numel(tensors.shape(node.output[0])) * k
    return 2 * macs, macs


def _gemm(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    a, b = tensors.shape(node.input[0]), tensors.shape(node.input[1])
    m, k = (a[1], a[0]) if _int_attr(node, "transA") else (a[0], a[1])
    n = b[0] if _int_attr(node, "transB") else b[1]
    bias = m * n if _has_input(node, 2) else 0
    return 2 * m * n * k + bias, m * n * k


def _conv(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    # W is (Cout, Cin/group, *kernel): each output element is a dot product of that length.
    out = _numel(tensors.shape(node.output[0]))
    macs = out * math.prod(tensors.shape(node.input[1])[1:])
    return 2 * macs + (out if _has_input(node, 2) else 0), macs


def _conv_transpose(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    # W is (Cin, Cout/group, *kernel): each input element is scattered into that many outputs.
    macs = _numel(tensors.shape(node.input[0])) * math.prod(tensors.shape(node.input[1])[1:])
    bias = _numel(tensors.shape(node.output[0])) if _has_input(node, 2) else 0
    return 2 * macs + bias, macs


def _variadic(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    out = _numel(tensors.shape(node.output[0]))
    operands = sum(1 for name in node.input if name)
    return out * max(1, operands - 1) + (out if node.op_type == "Mean" else 0), 0


def _pool(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    kernel = _ints_attr(node, "kernel_shape")
    return _numel(tensors.shape(node.output[0])) * math.prod(kernel), 0


def _einsum(node: onnx.NodeProto, tensors: _Tensors) -> Cost | None:
    equation = _str_attr(node, "equation").replace(" ", "")
    operands = equation.split("->")[0].split(",")
    if "..." in equation or len(operands) != len(node.input):
        return None
    sizes: dict[str, int] = {}
    for letters, name in zip(operands, node.input, strict=True):
        shape = tensors.shape(name)
        if len(shape) != len(letters):
            return None
        sizes.update(zip(letters, shape, strict=True))
    if len(operands) == 1:
        return _numel(tensors.shape(node.input[0])), 0
    macs = (len(operands) - 1) * math.prod(sizes.values())
    return 2 * macs, macs


def _recurrent(node: onnx.NodeProto, tensors: _Tensors) -> Cost:
    gates, cell_ops = _RECURRENT[node.op_type]
    x, w, r = (tensors.shape(node.input[i]) for i in range(3))
    steps, batch = (x[1], x[0]) if _int_attr(node, "layout") else (x[0], x[1])
    directions, inputs, hidden = w[0], w[2], r[2]
    per_unit = gates + (2 * gates if _has_input(node, 3) else 0) + cell_ops
    units = steps * batch * directions * hidden
    macs = units * gates * (inputs + hidden)
    return 2 * macs + units * per_unit, macs


_RULES: dict[str, Callable[[onnx.NodeProto, _Tensors], Cost | None]] = {
    "MatMul": _matmul,
    "MatMulInteger": _matmul,
    "Gemm": _gemm,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Einsum": _einsum,
    "AveragePool": _pool,
    "MaxPool": _pool,
    "LpPool": _pool,
    **dict.fromkeys(_VARIADIC, _variadic),
    **dict.fromkeys(_RECURRENT, _recurrent),
}


def _onnx_batch_size(
    proto: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]], tensors: _Tensors
) -> int:
    weights = {t.name for t in proto.graph.initializer}
    for value in proto.graph.input:
        if value.name not in weights:
            shape = input_shapes.get(value.name) or tensors.shapes.get(value.name)
            return int(shape[0]) if shape else 1
    return 1


# --------------------------------------------------------------------------- torch


def count_torch_work(module: nn.Module, inputs: dict[str, np.ndarray], *, top: int = 10) -> Work:
    """FLOPs and MACs of one ``module(**inputs)`` call under ``FlopCounterMode``.

    Every op that counter knows is a matrix product, a convolution or attention (two
    products), so MACs are half its FLOPs. Activation bytes are the outputs of the leaf
    modules (functional ops between modules are not seen); the top nodes are the leaf
    modules with the most FLOPs.
    """
    leaves = [(name, m) for name, m in module.named_modules() if next(m.children(), None) is None]
    counts, calls, written = _run_counted(module, inputs, [leaf for _, leaf in leaves])
    by_op = [
        OpFlops(str(op), calls[str(op)], int(flops), int(flops) // 2)
        for op, flops in counts.get("Global", {}).items()
    ]
    root = type(module).__name__
    top_nodes = [
        NodeFlops(name or root, type(leaf).__name__, flops)
        for name, leaf in leaves
        if (flops := int(sum(counts.get(_tracked(root, name), {}).values()))) > 0
    ]
    first = next(iter(inputs.values()), None)
    weights = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    return _summarise(
        batch_size=int(first.shape[0]) if first is not None and first.ndim else 1,
        by_op=by_op,
        top_nodes=top_nodes,
        completeness=_COMPLETE,
        weight_bytes=int(weights),
        activation_bytes=written,
        top=top,
    )


def _run_counted(
    module: nn.Module, inputs: dict[str, np.ndarray], leaves: list[nn.Module]
) -> tuple[dict[str, dict[Any, int]], Counter[str], int]:
    """One call under the counters: FLOPs per module and op, calls per op, and the bytes
    the leaf modules wrote."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(array)).to(device)
        for name, array in inputs.items()
    }
    counter = FlopCounterMode(display=False)
    calls = _call_counter(set(counter.flop_registry))
    written = [0]

    def record(_module: nn.Module, _args: Any, output: Any) -> None:
        written[0] += _tensor_bytes(output)

    hooks = [leaf.register_forward_hook(record) for leaf in leaves]
    try:
        with torch.no_grad(), counter, calls:
            module(**tensors)
    finally:
        for hook in hooks:
            hook.remove()
    return counter.get_flop_counts(), calls.calls, written[0]


def _call_counter(ops: set[Any]) -> Any:
    """A dispatch mode that counts calls of ``ops`` by name (FlopCounterMode counts FLOPs
    only)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class CallCounter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: Counter[str] = Counter()

        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            if func.overloadpacket in ops:
                self.calls[str(func.overloadpacket)] += 1
            return func(*args, **(kwargs or {}))

    return CallCounter()


def _tracked(root: str, name: str) -> str:
    """The name FlopCounterMode's module tracker gives a submodule: root class, dotted path."""
    return f"{root}.{name}" if name else root


def _tensor_bytes(value: Any) -> int:
    if hasattr(value, "element_size") and hasattr(value, "numel"):
        return int(value.numel() * value.element_size())
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, tuple | list):
        return sum(_tensor_bytes(v) for v in value)
    return 0


# -------------------------------------------------------------------------- shared


def _work(
    *,
    batch_size: int,
    nodes: list[tuple[str, str, int, int]],
    completeness: _Completeness,
    weight_bytes: int,
    activation_bytes: int,
    top: int,
) -> Work:
    """Aggregate per-node costs (name, op type, flops, macs) into a Work."""
    count: Counter[str] = Counter()
    flops: Counter[str] = Counter()
    macs: Counter[str] = Counter()
    for _, op, node_flops, node_macs in nodes:
        count[op] += 1
        flops[op] += node_flops
        macs[op] += node_macs
    by_op = [OpFlops(op, count[op], flops[op], macs[op]) for op in count]
    top_nodes = [NodeFlops(name, op, f) for name, op, f, _ in nodes if f > 0]
    return _summarise(
        batch_size=batch_size,
        by_op=by_op,
        top_nodes=top_nodes,
        completeness=completeness,
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        top=top,
    )


def _summarise(
    *,
    batch_size: int,
    by_op: Iterable[OpFlops],
    top_nodes: Iterable[NodeFlops],
    completeness: _Completeness,
    weight_bytes: int,
    activation_bytes: int,
    top: int,
) -> Work:
    ops = sorted(by_op, key=lambda o: (-o.flops, o.op_type))
    total = sum(o.flops for o in ops)
    moved = weight_bytes + activation_bytes
    return Work(
        batch_size=batch_size,
        flops=total,
        macs=sum(o.macs for o in ops),
        by_op=tuple(ops),
        # A stable sort: ties keep graph (or module) order.
        top_nodes=tuple(sorted(top_nodes, key=lambda n: -n.flops)[:top]),
        uncounted_ops=tuple(sorted(completeness.uncounted)),
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        arithmetic_intensity=total / moved if moved else 0.0,
        status="complete" if completeness.reason is None else "incomplete",
        unknown_cost_share=completeness.share,
        incomplete_reason=completeness.reason,
    )


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _has_input(node: onnx.NodeProto, index: int) -> bool:
    return len(node.input) > index and bool(node.input[index])


def _int_attr(node: onnx.NodeProto, name: str) -> int:
    return int(attribute(node, name) or 0)


def _ints_attr(node: onnx.NodeProto, name: str) -> list[int]:
    return [int(v) for v in attribute(node, name) or ()]


def _str_attr(node: onnx.NodeProto, name: str) -> str:
    value = attribute(node, name)
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _mode(node: onnx.NodeProto) -> str:
    return _str_attr(node, "mode") or "nearest"
