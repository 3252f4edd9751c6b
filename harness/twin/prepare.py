"""Graph preparation before onnx2torch: small, exact rewrites that unblock its converters.

Each step works on a copy and returns the new graph with a ``PreparationStep`` saying what
it changed; a step with nothing to do returns the graph it was given and ``changed=0``. A
step whose result fails the ONNX checker (or that raises) is dropped: the graph before it
goes on, and the step is recorded as ``skipped: <why>``. No step changes what the model
computes.

    fix_inputs         inputs fixed for the whole audit (``--value``) become initializers
                       holding that value, so folding sees them as constants (an If on
                       ``sample_rate == 16000`` then has a constant condition)
    inline_functions   calls to model-local functions replaced by their bodies
    trim_optional      trailing empty ('') optional inputs and outputs removed from nodes
    lift_constants     Constant nodes holding tensors become initializers of the same name
    fold_constants     deterministic ops on constants only, evaluated once into initializers
    value_info         ranks and static shapes from shape inference; where inference leaves
                       a tensor without a rank, ranks observed in one onnxruntime pass
    rewrite_reshape_allowzero
                       Reshape-14 ``allowzero=1`` set to 0 where its shape provably holds no 0
                       (constant, inferred, or observed at every audit input size)
    rewrite_flatten_edges
                       Flatten-9/11/13 with axis 0 or axis == rank as a Reshape to (1, -1)
                       or (-1, 1)
    rewrite_dynamic_clip
                       Clip with a computed min or max as Min(Max(x, min), max)
    expose_outputs     an Identity in front of graph outputs that no node produces, and in
                       front of those a multi-output node produces
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.core.constant_folding import FoldPolicy, drop_unread_initializers
from harness.core.constant_folding import fold_constants as fold
from harness.core.errors import first_line
from harness.core.onnx_graph import (
    add_initializer,
    attribute,
    constant_names,
    copy_model,
    infer_shapes,
    is_op,
    node_outputs,
    opset_version,
    ranks,
    static_shapes,
    walk_graphs,
    walk_nodes,
)
from harness.core.sessions import SessionSettings, create_session
from harness.core.twin import PreparationStep

__all__ = [
    "add_value_info",
    "expose_outputs",
    "fix_inputs",
    "fold_constants",
    "inline_functions",
    "lift_constants",
    "prepare",
    "rewrite_dynamic_clip",
    "rewrite_flatten_edges",
    "rewrite_reshape_allowzero",
    "trim_optional",
]

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
StepResult = tuple[onnx.ModelProto, PreparationStep]

# Deterministic ops cheap enough to evaluate once when every input is a constant; a folded
# tensor may grow past its inputs' size only up to 2**20 elements.
_FOLD_POLICY = FoldPolicy(ops=frozenset({
    "Abs", "Add", "And", "Cast", "CastLike", "Ceil", "Concat", "ConstantOfShape", "Div",
    "Equal", "Expand", "Flatten", "Floor", "Gather", "Greater", "GreaterOrEqual", "Identity",
    "Less", "LessOrEqual", "Max", "Min", "Mod", "Mul", "Neg", "Not", "Or", "Range",
    "Reciprocal", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSum", "Reshape", "Shape",
    "Sign", "Size", "Slice", "Split", "Sqrt", "Squeeze", "Sub", "Tile", "Transpose",
    "Unsqueeze", "Where",
}), max_elements=1 << 20)  # fmt: skip
_TWO_GIB = 2**31 - 1


def prepare(
    proto: onnx.ModelProto, input_sets: Sequence[Arrays], constants: Arrays | None = None
) -> tuple[onnx.ModelProto, tuple[PreparationStep, ...]]:
    """Every step in order, each guarded; ``input_sets`` feed the onnxruntime passes of
    ``value_info`` and ``rewrite_reshape_allowzero`` (the audit inputs, and a second size
    where dims are dynamic). ``constants``: inputs whose value is the same in every call
    the harness makes (``--value``), made initializers by ``fix_inputs`` (a step run and
    recorded only when there are some)."""
    fixed = dict(constants or {})
    # Once an input is an initializer the graph no longer takes it: feed it nowhere.
    input_sets = [{n: a for n, a in s.items() if n not in fixed} for s in input_sets]
    steps: list[tuple[str, Callable[[onnx.ModelProto], StepResult]]] = [
        ("inline_functions", inline_functions),
        ("trim_optional", trim_optional),
        ("lift_constants", lift_constants),
        ("fold_constants", fold_constants),
        ("value_info", lambda p: add_value_info(p, input_sets)),
        ("rewrite_reshape_allowzero", lambda p: rewrite_reshape_allowzero(p, input_sets)),
        ("rewrite_flatten_edges", rewrite_flatten_edges),
        ("rewrite_dynamic_clip", rewrite_dynamic_clip),
        ("expose_outputs", expose_outputs),
    ]
    if fixed:  # recorded only when there is something to fix: the usual list stays as it was
        steps.insert(0, ("fix_inputs", lambda p: fix_inputs(p, fixed)))
    records = []
    for name, step in steps:
        proto, record = _guarded(name, step, proto)
        records.append(record)
        log.debug("prepare %s: %s", name, record.detail)
    return proto, tuple(records)


def _guarded(
    name: str, step: Callable[[onnx.ModelProto], StepResult], proto: onnx.ModelProto
) -> StepResult:
    try:
        prepared, record = step(proto)
        if record.changed and prepared.ByteSize() < _TWO_GIB:
            onnx.checker.check_model(prepared, full_check=False)
    except Exception as exc:  # any failure drops the step, never the conversion
        why = f"{type(exc).__name__}: {first_line(exc)}"
        return proto, PreparationStep(name, f"skipped: {why}", 0)
    return prepared, record


# ---------------------------------------------------------------------------- steps


def fix_inputs(proto: onnx.ModelProto, constants: Arrays) -> StepResult:
    """Graph inputs named in ``constants`` removed and added back as initializers holding
    that value, in the input's declared element type: exact for an input the audit feeds
    the same value every time, and what lets folding and the constant-If converter see
    through a condition computed from it."""
    declared = {i.name: i for i in proto.graph.input}
    names = [n for n in constants if n in declared]
    if not names:
        return proto, PreparationStep("fix_inputs", "no inputs fixed by --value", 0)
    proto = copy_model(proto)
    graph = proto.graph
    kept = [i for i in graph.input if i.name not in names]
    del graph.input[:]
    graph.input.extend(kept)
    weights = [t for t in graph.initializer if t.name not in names]  # defaults overridden
    del graph.initializer[:]
    graph.initializer.extend(weights)
    for name in names:
        dtype = helper.tensor_dtype_to_np_dtype(declared[name].type.tensor_type.elem_type)
        value = np.asarray(constants[name]).astype(dtype, copy=False)
        add_initializer(proto, numpy_helper.from_array(value, name))
    detail = f"fixed {', '.join(names)} to its --value as a constant"
    return proto, PreparationStep("fix_inputs", detail, len(names))


def inline_functions(proto: onnx.ModelProto) -> StepResult:
    """Model-local functions inlined (onnx2torch converts only the main graph's ops)."""
    local = {(f.domain, f.name) for f in proto.functions}
    calls = sum((n.domain, n.op_type) in local for n in proto.graph.node)
    if not local:
        return proto, PreparationStep("inline_functions", "no model-local functions", 0)
    import onnx.inliner

    inlined = onnx.inliner.inline_local_functions(proto)
    detail = f"inlined {calls} calls to {len(local)} model-local functions"
    return inlined, PreparationStep("inline_functions", detail, calls)


def trim_optional(proto: onnx.ModelProto) -> StepResult:
    """Trailing '' inputs and outputs dropped: an omitted optional value, said explicitly.

    onnx2torch reads a trailing '' input as a value it must find (Clip's absent max), and a
    trailing '' output as a second output to index.
    """
    trimmable = [n for n in proto.graph.node if _has_trailing_empty(n)]
    if not trimmable:
        return proto, PreparationStep("trim_optional", "no trailing empty inputs or outputs", 0)
    proto = copy_model(proto)
    for node in proto.graph.node:
        while len(node.input) and node.input[-1] == "":
            node.input.pop()
        while len(node.output) > 1 and node.output[-1] == "":
            node.output.pop()
    ops = ", ".join(sorted({n.op_type for n in trimmable}))
    detail = f"dropped trailing empty optional inputs/outputs of {len(trimmable)} nodes ({ops})"
    return proto, PreparationStep("trim_optional", detail, len(trimmable))


def _has_trailing_empty(node: onnx.NodeProto) -> bool:
    return bool(
        (len(node.input) and node.input[-1] == "")
        or (len(node.output) > 1 and node.output[-1] == "")
    )


def lift_constants(proto: onnx.ModelProto) -> StepResult:
    """Constant nodes holding a tensor (``value``, ``value_float(s)``, ``value_int(s)``)
    become initializers under their output's name; those that feed a graph output stay."""
    outputs = {o.name for o in proto.graph.output}
    liftable = [
        i
        for i, node in enumerate(proto.graph.node)
        if _is_tensor_constant(node) and node.output[0] not in outputs
    ]
    if not liftable:
        return proto, PreparationStep("lift_constants", "no Constant nodes to lift", 0)
    proto = copy_model(proto)
    graph = proto.graph
    for i in reversed(liftable):
        node = graph.node[i]
        add_initializer(proto, _constant_tensor(node))
        del graph.node[i]
    detail = f"lifted {len(liftable)} Constant nodes to initializers"
    return proto, PreparationStep("lift_constants", detail, len(liftable))


_CONSTANT_ATTRIBUTES = {"value", "value_float", "value_floats", "value_int", "value_ints"}


def _is_tensor_constant(node: onnx.NodeProto) -> bool:
    return (
        is_op(node, "Constant")
        and len(node.attribute) == 1
        and node.attribute[0].name in _CONSTANT_ATTRIBUTES
    )


def _constant_tensor(node: onnx.NodeProto) -> TensorProto:
    attr = node.attribute[0]
    name = node.output[0]
    if attr.name == "value":
        tensor = TensorProto()
        tensor.CopyFrom(attr.t)
        tensor.name = name
        return tensor
    if attr.name == "value_float":
        return helper.make_tensor(name, TensorProto.FLOAT, [], [attr.f])
    if attr.name == "value_floats":
        return helper.make_tensor(name, TensorProto.FLOAT, [len(attr.floats)], attr.floats)
    if attr.name == "value_int":
        return helper.make_tensor(name, TensorProto.INT64, [], [attr.i])
    return helper.make_tensor(name, TensorProto.INT64, [len(attr.ints)], attr.ints)


def fold_constants(proto: onnx.ModelProto) -> StepResult:
    """Deterministic ops whose inputs are all initializers, evaluated with the ONNX reference
    evaluator and replaced by initializers (``harness.core.constant_folding``). Shape of a
    tensor whose shape is fully static counts as constant too. Results that would grow
    past 2**20 elements and their inputs' size stay as they are."""
    shapes = {}
    inferred = infer_shapes(proto)
    if inferred is not None:  # inference is optional here: Shape nodes just stay
        shapes = static_shapes(inferred.graph)
    result = fold(proto, _FOLD_POLICY, shapes)
    if not result.folded:
        return result.model, PreparationStep("fold_constants", "no constant subgraphs to fold", 0)
    removed = drop_unread_initializers(result.model)  # a fresh copy: fold made it
    detail = (
        f"folded {result.folded} nodes into initializers ({removed} orphaned initializers removed)"
    )
    return result.model, PreparationStep("fold_constants", detail, result.folded)


def add_value_info(proto: onnx.ModelProto, input_sets: Sequence[Arrays]) -> StepResult:
    """value_info (element type, rank, static dims) for every node output that shape
    inference can describe; the rest get the ranks one onnxruntime pass per input set
    observes (dims fixed where the same at every size, named after an input dim where they
    follow it, unnamed otherwise)."""
    before = set(ranks(proto.graph))
    inferred = onnx.shape_inference.infer_shapes(
        proto, check_type=False, strict_mode=False, data_prop=True
    )
    after = set(ranks(inferred.graph))
    from_inference = len(after - before)
    outputs = {o.name for o in inferred.graph.output}
    missing = [n for n in node_outputs(inferred.graph) if n not in after and n not in outputs]
    observed, note = 0, ""
    if missing and input_sets:
        try:
            observed = _observe_ranks(inferred, missing, input_sets)
        except Exception as exc:  # onnxruntime cannot run it: inference's ranks stand
            note = f"; onnxruntime pass skipped: {type(exc).__name__}: {first_line(exc)}"
    unranked = len(missing) - observed
    detail = (
        f"{from_inference} tensors from shape inference, {observed} ranks observed with "
        f"onnxruntime, {unranked} left without rank{note}"
    )
    changed = from_inference + observed
    return (inferred if changed else proto), PreparationStep("value_info", detail, changed)


def _observe_ranks(proto: onnx.ModelProto, names: list[str], input_sets: Sequence[Arrays]) -> int:
    """Run ``proto`` with ``names`` exposed as outputs once per input set; write value_info
    for each tensor whose rank is the same in every run. Returns how many got one."""
    runs = _evaluate(proto, names, input_sets)
    dim_names = _input_dim_sizes(input_sets)
    described = {v.name: v for v in proto.graph.value_info}
    count = 0
    for name in names:
        arrays = [run[name] for run in runs]
        if not all(isinstance(a, np.ndarray) for a in arrays):
            continue  # a sequence or map: no rank to give
        if len({a.ndim for a in arrays}) != 1:
            continue
        dims = [
            _observed_dim([a.shape[axis] for a in arrays], dim_names)
            for axis in range(arrays[0].ndim)
        ]
        elem_type = helper.np_dtype_to_tensor_dtype(arrays[0].dtype)
        info = helper.make_tensor_value_info(name, elem_type, dims)
        if name in described:
            described[name].CopyFrom(info)
        else:
            proto.graph.value_info.append(info)
        count += 1
    return count


def _input_dim_sizes(input_sets: Sequence[Arrays]) -> dict[tuple[int, ...], str]:
    """Sizes across the runs -> a name for the input dim that has them (``input_ids:1``)."""
    sizes: dict[tuple[int, ...], str] = {}
    first = input_sets[0]
    for input_name, array in first.items():
        for axis in range(array.ndim):
            key = tuple(int(s[input_name].shape[axis]) for s in input_sets)
            if len(set(key)) > 1:
                sizes.setdefault(key, f"{input_name}:{axis}")
    return sizes


def _observed_dim(sizes: list[int], dim_names: dict[tuple[int, ...], str]) -> int | str | None:
    if len(set(sizes)) == 1:
        return int(sizes[0])
    return dim_names.get(tuple(sizes))


def _evaluate(
    proto: onnx.ModelProto, names: list[str], input_sets: Sequence[Arrays]
) -> list[Arrays]:
    """The values of main-graph tensors ``names`` in one onnxruntime run per input set
    (intermediate tensors exposed as extra outputs; graph inputs and initializers read
    from the feeds and the graph)."""
    initializers = {t.name: t for t in proto.graph.initializer}
    inputs = {i.name for i in proto.graph.input} | set(initializers)
    wanted = [n for n in dict.fromkeys(names) if n not in inputs]
    probe = copy_model(proto)
    outputs = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in wanted if n not in outputs)
    # The CPU with onnxruntime's default threads: a probe of values, not a timed run.
    session = create_session(probe, SessionSettings())
    runs = []
    for feeds in input_sets:
        values = dict(zip(wanted, session.run(wanted, feeds), strict=True)) if wanted else {}
        for n in names:
            if n in inputs:  # fed, or an initializer (a graph input's default, too)
                values[n] = feeds[n] if n in feeds else numpy_helper.to_array(initializers[n])
        runs.append(values)
    return runs


def _since_version(proto: onnx.ModelProto, op_type: str) -> int | None:
    """The since-version of the default-domain ``op_type`` at the model's opset."""
    try:
        schema = onnx.defs.get_schema(op_type, max_inclusive_version=opset_version(proto))
    except (RuntimeError, onnx.defs.SchemaError):
        return None
    return int(schema.since_version)


def _unique_name(taken: set[str], base: str) -> str:
    name, suffix = base, 1
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(name)
    return name


def _all_names(graph: onnx.GraphProto) -> set[str]:
    """Every value and node name of the graph and of its subgraphs."""
    names: set[str] = set()
    for each in walk_graphs(graph):
        names |= {v.name for v in [*each.input, *each.output, *each.value_info]}
        names |= {t.name for t in each.initializer}
        for node in each.node:
            names.update([*node.input, *node.output, node.name])
    return names


def rewrite_reshape_allowzero(
    proto: onnx.ModelProto, input_sets: Sequence[Arrays] = ()
) -> StepResult:
    """Reshape-14 (opsets 14 to 18) with ``allowzero=1`` gets ``allowzero=0``, which
    onnx2torch converts, where the target shape provably holds no 0 (the two differ only
    in what a 0 means: a zero-size axis, or the input's axis copied). Proof, in order: the
    shape is an initializer without 0; shape inference with data propagation (on a copy
    without the graph's value_info and output shapes) gives every output dim as a positive
    number, so every shape entry is that number or -1; or the shape, computed in one
    onnxruntime pass per input set, holds no 0 at any of them (the evidence holds for those
    inputs, the ones the twin's parity is checked at). Other nodes keep ``allowzero=1``."""
    name = "rewrite_reshape_allowzero"
    if _since_version(proto, "Reshape") != 14:
        return proto, PreparationStep(name, "no Reshape-14 in this opset", 0)
    nodes = [
        i
        for i, n in enumerate(proto.graph.node)
        if is_op(n, "Reshape") and attribute(n, "allowzero", 0) == 1
    ]
    if not nodes:
        return proto, PreparationStep(name, "no Reshape with allowzero=1", 0)
    graph = proto.graph
    initializers = {t.name: t for t in graph.initializer}
    evidence: dict[int, str] = {}
    zero: list[int] = []
    for i in nodes:
        shape = graph.node[i].input[1]
        if shape in initializers:
            if np.any(numpy_helper.to_array(initializers[shape]) == 0):
                zero.append(i)
            else:
                evidence[i] = "constant"
    pending = [i for i in nodes if i not in evidence and i not in zero]
    if pending:
        inferred = _inferred_positive_shapes(proto)
        for i in pending:
            if graph.node[i].output[0] in inferred:
                evidence[i] = "inferred"
    pending = [i for i in pending if i not in evidence]
    note = ""
    if pending and input_sets:
        try:
            runs = _evaluate(proto, [graph.node[i].input[1] for i in pending], input_sets)
        except Exception as exc:  # onnxruntime cannot run it: these stay unproven
            note = f"; onnxruntime pass failed: {type(exc).__name__}: {first_line(exc)}"
            runs = []
        for i in pending if runs else []:
            values = [np.asarray(run[graph.node[i].input[1]]) for run in runs]
            if any(np.any(v == 0) for v in values):
                zero.append(i)
            else:
                evidence[i] = "observed"
    unproven = len(nodes) - len(evidence) - len(zero)
    if evidence:
        proto = copy_model(proto)
        for i in evidence:
            for attr in proto.graph.node[i].attribute:
                if attr.name == "allowzero":
                    attr.i = 0
    kinds = [evidence.get(i) for i in nodes]
    detail = (
        f"allowzero=0 on {len(evidence)} of {len(nodes)} Reshape nodes with allowzero=1 "
        f"(shape without 0: {kinds.count('constant')} constant, {kinds.count('inferred')} "
        f"by shape inference, {kinds.count('observed')} observed at {len(input_sets)} input "
        f"sizes); {len(zero)} kept (a 0 in the shape), {unproven} kept (shape unproven){note}"
    )
    return proto, PreparationStep(name, detail, len(evidence))


def _inferred_positive_shapes(proto: onnx.ModelProto) -> set[str]:
    """Tensors that shape inference with data propagation, from the graph's inputs and
    initializers alone (its value_info and output shapes dropped), gives a shape of
    positive numbers."""
    bare = copy_model(proto)
    del bare.graph.value_info[:]
    for output in bare.graph.output:
        if output.type.HasField("tensor_type"):
            output.type.tensor_type.ClearField("shape")
    inferred = infer_shapes(bare, data_prop=True)
    if inferred is None:  # inference is only one of the proofs
        return set()
    described = {v.name for v in [*inferred.graph.value_info, *inferred.graph.output]}
    return {
        name
        for name, shape in static_shapes(inferred.graph).items()
        if name in described and all(d > 0 for d in shape)
    }


def rewrite_flatten_edges(proto: onnx.ModelProto) -> StepResult:
    """Flatten-9/11/13 with axis 0 (or -rank) becomes ``Reshape(x, [1, -1])`` and with
    axis == rank ``Reshape(x, [-1, 1])``: onnx2torch's Flatten flattens to 1-D there and
    then fails. Needs the input's rank (from value_info); a Flatten whose input has none
    stays."""
    name = "rewrite_flatten_edges"
    if _since_version(proto, "Flatten") not in (9, 11, 13):
        return proto, PreparationStep(name, "no Flatten-9/11/13 in this opset", 0)
    flattens = [i for i, n in enumerate(proto.graph.node) if is_op(n, "Flatten")]
    known_ranks = ranks(proto.graph)
    edges: dict[int, list[int]] = {}
    unranked = 0
    for i in flattens:
        node = proto.graph.node[i]
        rank = known_ranks.get(node.input[0])
        if rank is None:
            unranked += 1
            continue
        axis = attribute(node, "axis", 1)
        axis = axis + rank if axis < 0 else axis
        if axis == 0:
            edges[i] = [1, -1]
        elif axis == rank:
            edges[i] = [-1, 1]
    if not edges:
        detail = f"no Flatten with axis 0 or axis == rank ({unranked} without a known rank)"
        return proto, PreparationStep(name, detail, 0)
    proto = copy_model(proto)
    taken = _all_names(proto.graph)
    shapes: dict[tuple[int, ...], str] = {}
    for i, shape in edges.items():
        key = tuple(shape)
        if key not in shapes:
            label = "1_m1" if key == (1, -1) else "m1_1"
            shapes[key] = _unique_name(taken, f"twin_flatten_shape_{label}")
            tensor = numpy_helper.from_array(np.array(shape, np.int64), shapes[key])
            add_initializer(proto, tensor)
        node = proto.graph.node[i]
        reshape = helper.make_node(
            "Reshape", [node.input[0], shapes[key]], list(node.output), name=node.name
        )
        node.CopyFrom(reshape)
    to_row = sum(s == [1, -1] for s in edges.values())
    detail = (
        f"rewrote {len(edges)} Flatten nodes as Reshape ({to_row} axis 0 to (1, -1), "
        f"{len(edges) - to_row} axis == rank to (-1, 1)); {unranked} Flatten without a "
        "known rank left"
    )
    return proto, PreparationStep(name, detail, len(edges))


def rewrite_dynamic_clip(proto: onnx.ModelProto) -> StepResult:
    """Clip-11/12/13 whose min or max is computed (neither an initializer nor a Constant
    node's output), or an integer constant, becomes ``Min(Max(x, min), max)``, each bound
    only where given; that is Clip's definition, min > max giving max. onnx2torch's Clip
    takes constant bounds only, as Python floats: clamping integer token ids with them
    would turn the ids into floats no embedding can index."""
    name = "rewrite_dynamic_clip"
    if _since_version(proto, "Clip") not in (11, 12, 13):
        return proto, PreparationStep(name, "no Clip-11/12/13 in this opset", 0)
    graph = proto.graph
    constant = constant_names(graph) - _integer_initializers(graph)
    dynamic = [
        i
        for i, n in enumerate(graph.node)
        if is_op(n, "Clip") and any(b and b not in constant for b in n.input[1:3])
    ]
    if not dynamic:
        return proto, PreparationStep(name, "no Clip with a computed or integer min or max", 0)
    proto = copy_model(proto)
    graph = proto.graph
    taken = _all_names(graph)
    described = {v.name: v for v in graph.value_info}
    replaced: dict[int, list[onnx.NodeProto]] = {}
    for i in dynamic:
        node = graph.node[i]
        x, low, high = [*node.input, "", ""][:3]
        output = node.output[0]
        base = node.name or output
        nodes = []
        if low and high:
            bounded = _unique_name(taken, f"{output}__twin_clip_min")
            nodes.append(_node("Max", [x, low], bounded, _unique_name(taken, f"{base}/max")))
            nodes.append(_node("Min", [bounded, high], output, _unique_name(taken, f"{base}/min")))
            if output in described:
                info = onnx.ValueInfoProto()
                info.CopyFrom(described[output])
                info.name = bounded
                graph.value_info.append(info)
        elif low:
            nodes.append(_node("Max", [x, low], output, _unique_name(taken, f"{base}/max")))
        else:
            nodes.append(_node("Min", [x, high], output, _unique_name(taken, f"{base}/min")))
        replaced[i] = nodes
    kept = []
    for i, node in enumerate(graph.node):
        kept.extend(replaced.get(i, [node]))
    del graph.node[:]
    graph.node.extend(kept)
    detail = (
        f"rewrote {len(dynamic)} Clip nodes with a computed or integer min or max as "
        "Min(Max(x, min), max)"
    )
    return proto, PreparationStep(name, detail, len(dynamic))


def _integer_initializers(graph: onnx.GraphProto) -> set[str]:
    return {
        t.name
        for t in graph.initializer
        if helper.tensor_dtype_to_np_dtype(t.data_type).kind in "iu"
    }


def _node(op_type: str, inputs: list[str], output: str, name: str) -> onnx.NodeProto:
    return helper.make_node(op_type, inputs, [output], name=name)


def expose_outputs(proto: onnx.ModelProto) -> StepResult:
    """Graph outputs that no node produces (an input or initializer handed straight out)
    get an Identity node in front, under a new name: onnx2torch builds its outputs from
    nodes only. The twin names its outputs by position, so the old names stay its names.

    A graph output that a node with several outputs produces (an LSTM's ``Y_h``) gets one
    too, and keeps its name: the node's output is renamed (``<name>__twin_multi``, its
    readers follow) and the Identity writes the graph output, so onnx2torch returns that
    tensor rather than the node's whole tuple."""
    produced = set(node_outputs(proto.graph))
    bare = [i for i, o in enumerate(proto.graph.output) if o.name not in produced]
    multi = {
        name
        for node in proto.graph.node
        if len([o for o in node.output if o]) > 1
        for name in node.output
        if name
    }
    shared = list(dict.fromkeys(o.name for o in proto.graph.output if o.name in multi))
    if not bare and not shared:
        detail = "every graph output comes from a single-output node"
        return proto, PreparationStep("expose_outputs", detail, 0)
    proto = copy_model(proto)
    for i in bare:
        output = proto.graph.output[i]
        exposed = f"{output.name}__twin_output"
        proto.graph.node.append(helper.make_node("Identity", [output.name], [exposed]))
        output.name = exposed
    if shared:
        taken = _all_names(proto.graph)
        renames = {name: _unique_name(taken, f"{name}__twin_multi") for name in shared}
        _rename_values(proto.graph, renames)
        for name, internal in renames.items():
            identity = _unique_name(taken, f"{name}__twin_identity")
            proto.graph.node.append(_node("Identity", [internal], name, identity))
    detail = (
        f"added Identity nodes for {len(bare)} outputs no node produces and "
        f"{len(shared)} outputs of multi-output nodes"
    )
    return proto, PreparationStep("expose_outputs", detail, len(bare) + len(shared))


def _rename_values(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Node outputs and every read of them (subgraphs included) renamed; graph outputs
    keep their names. value_info follows the tensor."""
    for node in graph.node:
        for k, name in enumerate(node.output):
            if name in renames:
                node.output[k] = renames[name]
    _rename_reads(graph, renames)
    for value in graph.value_info:
        if value.name in renames:
            value.name = renames[value.name]


def _rename_reads(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    for node in walk_nodes(graph):  # subgraphs read outer-scope values by name too
        for k, name in enumerate(node.input):
            if name in renames:
                node.input[k] = renames[name]
