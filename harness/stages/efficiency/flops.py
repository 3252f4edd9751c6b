"""The arithmetic of one inference: FLOPs and MACs per op type, from an ONNX graph or a module.

ONNX: the audit's concrete input shapes are written into a copy of the graph, ONNX shape
inference (with data propagation, so Reshape targets computed from Shape resolve) gives
every tensor's shape, and each node is costed from the shapes of its inputs and outputs.

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

Anything else, an op in a non-default domain, an op whose shapes could not be inferred, or
a node with subgraphs (If, Loop, Scan: their bodies are not walked) costs 0 and is listed
in ``uncounted_ops``. Conv padding is counted as work (as torch's FlopCounterMode does);
Gemm's alpha and beta scalings are not.

PyTorch: ``torch.utils.flop_counter.FlopCounterMode`` counts matrix products, convolutions
and attention only; everything else in a module is not seen by it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.core.efficiency import NodeFlops, OpFlops, Work

if TYPE_CHECKING:
    from torch import nn

__all__ = ["count_onnx_work", "count_torch_work"]

logger = logging.getLogger(__name__)

Cost = tuple[int, int]  # (flops, macs)

# Initializers larger than this (and not integer, so never shape data) are declared as
# graph inputs in the copy given to shape inference: it needs their shapes, not their bytes.
_LIGHTEN_ABOVE_ELEMENTS = 1024
_SHAPE_DATA_TYPES = frozenset({onnx.TensorProto.INT64, onnx.TensorProto.INT32})
# Shape computations folded to constants when inference leaves shapes unknown.
_MAX_FOLD_ROUNDS = 4
_FOLD_MAX_ELEMENTS = 1024
_NONDETERMINISTIC = frozenset(
    {"Bernoulli", "Multinomial", "RandomNormal", "RandomNormalLike", "RandomUniform",
     "RandomUniformLike"}
)  # fmt: skip

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
    """Shapes and element types of the graph's tensors after inference."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        self.elem_types: dict[str, int] = {}
        for value in (*graph.input, *graph.value_info, *graph.output):
            if value.type.HasField("tensor_type"):
                tensor = value.type.tensor_type
                self.shapes[value.name] = _concrete(tensor)
                self.elem_types[value.name] = tensor.elem_type
        for init in graph.initializer:
            self.shapes[init.name] = tuple(int(d) for d in init.dims)
            self.elem_types[init.name] = init.data_type

    def shape(self, name: str) -> tuple[int, ...]:
        shape = self.shapes.get(name)
        if shape is None:
            raise _UnknownShape(name)
        return shape

    def bytes(self, name: str) -> int:
        shape, itemsize = self.shapes.get(name), _itemsize(self.elem_types.get(name, 0))
        return math.prod(shape) * itemsize if shape is not None else 0


# ---------------------------------------------------------------------------- ONNX


def count_onnx_work(
    proto: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]], *, top: int = 10
) -> Work:
    """FLOPs, MACs and bytes of one inference of ``proto`` at ``input_shapes`` (input
    name -> concrete shape; inputs not named keep their declared shapes)."""
    # Shapes come from the inferred copy; the nodes counted are the caller's own.
    tensors = _Tensors(_inferred_graph(proto, input_shapes))
    nodes: list[tuple[str, str, int, int]] = []  # name, op type, flops, macs
    uncounted: set[str] = set()
    for index, node in enumerate(proto.graph.node):
        op = _op_name(node)
        cost = _node_cost(node, tensors)
        if cost is None:
            uncounted.add(op)
            continue
        nodes.append((node.name or f"{node.op_type}#{index}", op, *cost))
    if uncounted:
        logger.info("FLOPs not counted for op types %s (counted as 0)", sorted(uncounted))
    weight_bytes = sum(_initializer_bytes(t) for t in proto.graph.initializer)
    activation_bytes = sum(
        tensors.bytes(out) for node in proto.graph.node for out in node.output if out
    )
    return _work(
        batch_size=_onnx_batch_size(proto, input_shapes, tensors),
        nodes=nodes,
        uncounted=uncounted,
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        top=top,
    )


def _inferred_graph(
    proto: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.GraphProto:
    """The graph with every shape ONNX inference can find at ``input_shapes``.

    Exporters compute Reshape targets and Slice bounds with arithmetic that ONNX's data
    propagation does not follow (``Mod``, ``Slice`` with computed bounds): while shapes
    stay unknown, the small shape computations are evaluated with ``onnx.reference``,
    replaced by constants in the copy, and inference runs again.
    """
    model = _shaped_copy(proto, input_shapes)
    opsets = {imp.domain: imp.version for imp in model.opset_import}
    graph = _infer(model)
    for _ in range(_MAX_FOLD_ROUNDS):
        if all(
            _Tensors(graph).shapes.get(out) is not None
            for n in graph.node
            for out in n.output
            if out
        ):
            break
        if not _replace_with_constants(model.graph, _fold_shape_computations(graph, opsets)):
            break
        graph = _infer(model)
    return graph


def _shaped_copy(
    proto: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.CopyFrom(proto)
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
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    except (onnx.shape_inference.InferenceError, RuntimeError, ValueError) as exc:
        logger.warning("ONNX shape inference failed (%s); ops needing shapes are uncounted", exc)
        return model.graph


def _fold_shape_computations(
    graph: onnx.GraphProto, opsets: dict[str, int]
) -> dict[str, np.ndarray]:
    """Values of the small tensors computable from constants and known shapes alone."""
    tensors = _Tensors(graph)
    values = {
        t.name: numpy_helper.to_array(t)
        for t in graph.initializer
        if math.prod(t.dims) <= _FOLD_MAX_ELEMENTS
    }
    nodes: list[onnx.NodeProto] = []
    known = set(values)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or _has_subgraph(node):
            continue
        source = tensors.shapes.get(node.input[0]) if node.input else None
        if node.op_type in ("Shape", "Size") and source is not None:
            values[node.output[0]] = _shape_value(node, source)
            known.add(node.output[0])
        elif (
            node.op_type not in _NONDETERMINISTIC
            and all(name in known for name in node.input if name)
            and all(_small_or_unknown(tensors, name) for name in node.output if name)
        ):
            nodes.append(node)
            known.update(name for name in node.output if name)
    if not nodes:
        return values
    produced = _outputs(nodes)
    feeds = {n: values[n] for node in nodes for n in node.input if n and n not in produced}
    fold = helper.make_graph(
        nodes,
        "fold",
        [helper.make_empty_tensor_value_info(name) for name in feeds],
        [helper.make_empty_tensor_value_info(name) for name in produced],
    )
    try:
        from onnx.reference import ReferenceEvaluator

        results = ReferenceEvaluator(fold, opsets=opsets).run(None, feeds)
    except Exception as exc:  # an op the reference lacks, or one it cannot run on these
        logger.debug("could not fold shape computations: %s", exc)
        return values
    values.update(zip(produced, (np.asarray(r) for r in results), strict=True))
    return values


def _replace_with_constants(graph: onnx.GraphProto, values: dict[str, np.ndarray]) -> bool:
    """Swap each node whose outputs all have small known values for Constant nodes; True
    when any node changed."""
    changed = False
    nodes = []
    for node in graph.node:
        outs = [name for name in node.output if name]
        small = all(name in values and values[name].size <= _FOLD_MAX_ELEMENTS for name in outs)
        if node.op_type != "Constant" and outs and small:
            nodes += [
                helper.make_node(
                    "Constant", [], [name], value=numpy_helper.from_array(values[name], name)
                )
                for name in outs
            ]
            changed = True
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return changed


def _shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    if node.op_type == "Size":
        return np.array(math.prod(shape), dtype=np.int64)
    start, end = _attr(node, "start") or 0, _attr(node, "end")
    return np.array(shape[start:end], dtype=np.int64)


def _small_or_unknown(tensors: _Tensors, name: str) -> bool:
    shape = tensors.shapes.get(name)
    return shape is None or math.prod(shape) <= _FOLD_MAX_ELEMENTS


def _outputs(nodes: list[onnx.NodeProto]) -> list[str]:
    return [name for node in nodes for name in node.output if name]


def _lighten(graph: onnx.GraphProto) -> None:
    """Declare large non-integer initializers as inputs instead, so the copy handed to
    shape inference stays small (and under protobuf's 2 GB limit)."""
    declared = {value.name for value in graph.input}
    keep = []
    for tensor in graph.initializer:
        if (
            math.prod(tensor.dims) > _LIGHTEN_ABOVE_ELEMENTS
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


def _node_cost(node: onnx.NodeProto, tensors: _Tensors) -> Cost | None:
    """(flops, macs) of one node, or None when it is not counted."""
    if node.domain not in ("", "ai.onnx") or _has_subgraph(node):
        return None
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
        return rule(node, tensors) if rule is not None else None
    except _UnknownShape:
        return None


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
        uncounted=set(),
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
    uncounted: set[str],
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
        uncounted=uncounted,
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        top=top,
    )


def _summarise(
    *,
    batch_size: int,
    by_op: Iterable[OpFlops],
    top_nodes: Iterable[NodeFlops],
    uncounted: set[str],
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
        uncounted_ops=tuple(sorted(uncounted)),
        weight_bytes=weight_bytes,
        activation_bytes=activation_bytes,
        arithmetic_intensity=total / moved if moved else 0.0,
    )


def _concrete(tensor: onnx.TypeProto.Tensor) -> tuple[int, ...] | None:
    if not tensor.HasField("shape"):
        return None
    dims = tensor.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _itemsize(data_type: int) -> int:
    try:
        return int(helper.tensor_dtype_to_np_dtype(data_type).itemsize)
    except (KeyError, ValueError, TypeError):
        return 0  # undefined, strings and exotic types: no fixed size


def _initializer_bytes(tensor: onnx.TensorProto) -> int:
    return math.prod(tensor.dims) * _itemsize(tensor.data_type)


def _op_name(node: onnx.NodeProto) -> str:
    domain = node.domain if node.domain not in ("", "ai.onnx") else ""
    return f"{domain}.{node.op_type}" if domain else node.op_type


def _has_subgraph(node: onnx.NodeProto) -> bool:
    kinds = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    return any(attr.type in kinds for attr in node.attribute)


def _has_input(node: onnx.NodeProto, index: int) -> bool:
    return len(node.input) > index and bool(node.input[index])


def _attr(node: onnx.NodeProto, name: str) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return None


def _int_attr(node: onnx.NodeProto, name: str) -> int:
    return int(_attr(node, name) or 0)


def _ints_attr(node: onnx.NodeProto, name: str) -> list[int]:
    return [int(v) for v in _attr(node, name) or ()]


def _str_attr(node: onnx.NodeProto, name: str) -> str:
    value = _attr(node, name)
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _mode(node: onnx.NodeProto) -> str:
    return _str_attr(node, "mode") or "nearest"
