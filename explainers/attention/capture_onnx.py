"""Attention capture on an ONNX graph: find the attention softmaxes, promote their outputs.

An attention site is a ``Softmax`` over the last axis whose input comes from a ``MatMul``
of queries and transposed keys::

    MatMul(Q, K^T) -> [Mul | Div (scale)] -> [Add | Sub | Where (mask)] -> Softmax(axis=-1)

"Transposed keys": the MatMul's second operand leads back, through reshapes, casts and
scales, to a ``Transpose`` that moves the last axis (the feature axis) away from the end.
Both operands must be computed (a MatMul with a weight is a projection, not attention).
This covers the TorchScript and dynamo exports of ``nn.MultiheadAttention`` and of Hugging
Face eager attention, and hand-written ``softmax(QK^T/sqrt(d))``. Attention written with
``Einsum``, and attention inside control-flow subgraphs, is not found.

A Softmax over an explicit axis (``axis=3``, as exporters other than PyTorch's write it)
is the last axis only if its input's rank is that axis + 1. The rank comes from ONNX shape
inference, else from ``observed_ranks``: the ranks onnxruntime gave those tensors when the
stage ran the model with them promoted to outputs (``unranked_softmax_inputs`` names them).
Every Softmax of the main graph is examined; ``examine_softmaxes`` gives each verdict, found
or rejected, with its reason.

Fused attention ops (``com.microsoft`` Attention and its kin, the opset-23 ``Attention``)
hide their maps; they are listed, never unfused.

Capture runs a copy of the model whose site outputs (and, for verification, the
scores' MatMul operands) are promoted to graph outputs. Head ablation runs another copy
with a ``Mul`` by a per-head mask input after every softmax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from harness.core.attention import SiteCandidate
from harness.core.onnx_graph import (
    attribute,
    constant_names,
    copy_model,
    element_types,
    infer_shapes,
    is_default_domain,
    is_op,
    op_identity,
    opset_version,
    producers,
    ranks,
    walk_nodes,
)
from harness.core.sessions import SessionSettings, create_session
from harness.explainers.attention.sites import Capture, Site, first_dim

__all__ = [
    "FUSED_ATTENTION_OPS",
    "MASK_INPUT_PREFIX",
    "OnnxAblator",
    "OnnxCapturer",
    "SoftmaxSite",
    "ablation_model",
    "capture_model",
    "examine_softmaxes",
    "find_fused_attention",
    "find_softmax_sites",
    "promoted_model",
    "unranked_softmax_inputs",
]

# (domain, op type) of ops that compute attention in one node.
FUSED_ATTENTION_OPS = frozenset(
    {("com.microsoft", op) for op in (
        "Attention", "MultiHeadAttention", "GroupQueryAttention", "PackedAttention",
        "PackedMultiHeadAttention", "DecoderMaskedMultiHeadAttention",
        "DecoderMaskedSelfAttention", "QAttention", "SparseAttention", "LongformerAttention",
    )} | {("", "Attention"), ("ai.onnx", "Attention")}
)  # fmt: skip
MASK_INPUT_PREFIX = "harness_head_mask_"
KIND = "onnx softmax"

_MAX_HOPS = 8
# Ops allowed between the scores' MatMul and the Softmax (scale, mask, casts).
_SCORE_OPS = frozenset({"Mul", "Div", "Add", "Sub", "Where", "Cast", "Identity", "Clip", "Max"})
# Ops allowed between the keys' Transpose and the MatMul.
_KEY_OPS = frozenset(
    {"Mul", "Div", "Reshape", "Cast", "Identity", "Squeeze", "Unsqueeze", "Transpose", "Expand"}
)
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


@dataclass(frozen=True)
class SoftmaxSite:
    name: str  # the node's name, or its output's when it has none
    output: str  # the attention map
    query: str  # the scores' MatMul operands
    key_t: str


def find_softmax_sites(
    model: onnx.ModelProto, observed_ranks: Mapping[str, int] | None = None
) -> tuple[SoftmaxSite, ...]:
    """The attention softmaxes of the main graph, in graph (execution) order."""
    return examine_softmaxes(model, observed_ranks)[0]


def examine_softmaxes(
    model: onnx.ModelProto, observed_ranks: Mapping[str, int] | None = None
) -> tuple[tuple[SoftmaxSite, ...], tuple[SiteCandidate, ...]]:
    """(the attention softmaxes, every Softmax of the main graph with its verdict), in
    graph order; ``observed_ranks`` gives the ranks shape inference cannot."""
    graph = model.graph
    writers = producers(graph)
    constants = constant_names(graph)
    opset = opset_version(model)
    inferred: dict[str, int] | None = None
    sites, candidates = [], []
    for index, node in enumerate(graph.node):
        if not is_op(node, "Softmax"):
            continue
        name = node.name or node.output[0] or f"Softmax_{index}"
        trace = _Trace(writers, constants)
        matmul = trace.scores_matmul(node.input[0], 0)
        if matmul is None:
            candidates.append(SiteCandidate(name, "rejected", trace.why_not()))
            continue
        axis = _softmax_axis(node, opset)
        if axis != -1 and inferred is None:
            inferred = _ranks(model)  # only when an explicit axis needs it: inference is slow
        on_last, note = _last_axis(node.input[0], axis, inferred or {}, observed_ranks)
        if not on_last:
            candidates.append(SiteCandidate(name, "rejected", note))
            continue
        why = f"Softmax over the last axis of MatMul(Q, K^T) '{matmul.name}' ({note})"
        candidates.append(SiteCandidate(name, "found", why))
        sites.append(SoftmaxSite(name, node.output[0], matmul.input[0], matmul.input[1]))
    return tuple(sites), tuple(candidates)


def _last_axis(
    tensor: str, axis: int, inferred: Mapping[str, int], observed: Mapping[str, int] | None
) -> tuple[bool, str]:
    """(whether a Softmax over ``axis`` of ``tensor`` runs over its last axis, and how that
    is known, or why not)."""
    if axis == -1:
        return True, "axis -1"
    rank, source = _rank(tensor, inferred, observed)
    if rank is None:
        return False, (
            f"Softmax over axis {axis} of MatMul(Q, K^T), but its input's rank is unknown: "
            "ONNX shape inference gives none and onnxruntime did not report it"
        )
    if rank != axis + 1:
        return (
            False,
            f"Softmax over axis {axis} of a rank-{rank} input (its rank {source}): not its last",
        )
    return True, f"axis {axis} of a rank-{rank} input, its rank {source}"


def unranked_softmax_inputs(model: onnx.ModelProto) -> tuple[str, ...]:
    """The inputs of the Softmaxes over an explicit axis whose rank shape inference cannot
    give and whose input is MatMul(Q, K^T): the tensors whose rank must be observed."""
    graph = model.graph
    writers, constants = producers(graph), constant_names(graph)
    opset = opset_version(model)
    wanted = [
        node.input[0]
        for node in graph.node
        if is_op(node, "Softmax")
        and _softmax_axis(node, opset) != -1
        and _Trace(writers, constants).scores_matmul(node.input[0], 0) is not None
    ]
    if not wanted:
        return ()
    inferred = _ranks(model)
    return tuple(dict.fromkeys(name for name in wanted if name not in inferred))


def find_fused_attention(model: onnx.ModelProto) -> tuple[str, ...]:
    """``domain.OpType ×count`` of each fused attention op anywhere in the model."""
    counts: dict[str, int] = {}
    for node in _all_nodes(model):
        domain, op_type = op_identity(node)
        if (domain, op_type) in FUSED_ATTENTION_OPS:
            name = f"{domain or 'ai.onnx'}.{op_type}"
            counts[name] = counts.get(name, 0) + 1
    return tuple(f"{name} ×{n}" for name, n in sorted(counts.items()))


def capture_model(
    model: onnx.ModelProto, sites: Sequence[SoftmaxSite], with_qk: bool = False
) -> onnx.ModelProto:
    """A copy of ``model`` whose outputs are its first output, then every site's map (and
    each site's query and transposed-key operands when ``with_qk``)."""
    promoted = [site.output for site in sites]
    if with_qk:
        promoted += [name for site in sites for name in (site.query, site.key_t)]
    return promoted_model(model, promoted)


def promoted_model(model: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    """A copy of ``model`` whose outputs are its first output, then each of ``names``."""
    copy = copy_model(model)
    first = copy.graph.output[0]
    del copy.graph.output[:]
    copy.graph.output.append(first)
    types = _elem_types(model)
    for name in dict.fromkeys(names):
        if name != first.name:
            elem = types.get(name, TensorProto.FLOAT)
            copy.graph.output.append(helper.make_tensor_value_info(name, elem, None))
    return copy


def ablation_model(model: onnx.ModelProto, sites: Sequence[SoftmaxSite]) -> onnx.ModelProto:
    """A copy of ``model`` with ``map * harness_head_mask_<i>`` in place of every site's map.

    Each mask is an input of the map's type, fed as (1, heads, 1, 1) for a 4-D map or
    (batch*heads, 1, 1) for a 3-D one: 1 keeps a head, 0 zeroes its attention. All ones
    computes the original model exactly (x * 1 == x).
    """
    copy = copy_model(model)
    graph = copy.graph
    types = _elem_types(model)
    renamed = {site.output: f"{site.output}__head_masked" for site in sites}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
    for output in graph.output:
        output.name = renamed.get(output.name, output.name)
    muls = {}
    for index, site in enumerate(sites):
        mask = f"{MASK_INPUT_PREFIX}{index}"
        elem = types.get(site.output, TensorProto.FLOAT)
        graph.input.append(helper.make_tensor_value_info(mask, elem, None))
        masked = renamed[site.output]
        muls[site.output] = helper.make_node("Mul", [site.output, mask], [masked], name=masked)
    nodes = []
    for node in graph.node:
        nodes.append(node)
        nodes.extend(muls[out] for out in node.output if out in muls)
    del graph.node[:]
    graph.node.extend(nodes)
    return copy


class OnnxCapturer:
    """Captures the maps of ``model`` with onnxruntime; ``run`` once per batch."""

    backend = "onnxruntime"
    method = "attention Softmax outputs promoted to graph outputs on a copy, run by onnxruntime"

    def __init__(
        self,
        model: onnx.ModelProto,
        threads: int | None = None,
        cuda: bool = False,
        observed_ranks: Mapping[str, int] | None = None,
    ) -> None:
        self.model = model
        self.softmax_sites, self.candidates = examine_softmaxes(model, observed_ranks)
        self.fused_ops = find_fused_attention(model)
        self.sites = tuple(Site(s.name, KIND, ablatable=True) for s in self.softmax_sites)
        self._settings = _session_settings(threads, cuda)
        self._sessions: dict[bool, Any] = {}

    def run(self, arrays: dict[str, np.ndarray], with_qk: bool = False) -> Capture:
        session = self._sessions.get(with_qk)
        if session is None:
            promoted = capture_model(self.model, self.softmax_sites, with_qk)
            session = self._sessions[with_qk] = create_session(promoted, self._settings)
        values = session.run(None, arrays)
        by_name = dict(zip([o.name for o in session.get_outputs()], values, strict=True))
        n = len(self.sites)
        maps = tuple(np.asarray(by_name[s.output]) for s in self.softmax_sites)
        qk: tuple[tuple[np.ndarray, np.ndarray] | None, ...] = (None,) * n
        if with_qk:
            qk = tuple((by_name[s.query], by_name[s.key_t]) for s in self.softmax_sites)
        return Capture(self.sites, maps, np.asarray(values[0]), qk)


class OnnxAblator:
    """Runs the ablation copy of ``model``: every site's map times its head mask.

    ``ranks[i]`` is site i's map rank as captured (3 or 4); it decides the mask's layout.
    """

    method = "the map multiplied by a 0/1 head mask after each Softmax, in a copy of the graph"

    def __init__(
        self,
        model: onnx.ModelProto,
        sites: Sequence[SoftmaxSite],
        ranks: Sequence[int],
        threads: int | None = None,
        cuda: bool = False,
    ) -> None:
        self._ranks = tuple(ranks)
        settings = _session_settings(threads, cuda)
        self._session = create_session(ablation_model(model, sites), settings)
        self._first_output = self._session.get_outputs()[0].name
        self._mask_types = {
            i.name: _NUMPY_TYPES.get(i.type, np.float32)
            for i in self._session.get_inputs()
            if i.name.startswith(MASK_INPUT_PREFIX)
        }

    def output(self, arrays: dict[str, np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray:
        """The first output with ``masks[i]`` (per head, 0 or 1) applied to site i."""
        batch = first_dim(arrays)
        feeds = dict(arrays)
        for index, (mask, rank) in enumerate(zip(masks, self._ranks, strict=True)):
            name = f"{MASK_INPUT_PREFIX}{index}"
            feeds[name] = _mask_feed(mask, batch, rank).astype(self._mask_types[name])
        return np.asarray(self._session.run([self._first_output], feeds)[0])


def _session_settings(threads: int | None, cuda: bool) -> SessionSettings:
    """The audit's threads and device, for the sessions on the capture and ablation copies."""
    return SessionSettings(device="cuda" if cuda else "cpu", intra_op_threads=threads)


# --- graph walking ------------------------------------------------------------------------


def _softmax_axis(node: onnx.NodeProto, opset: int) -> int:
    return int(attribute(node, "axis", -1 if opset >= 13 else 1))


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    inferred = infer_shapes(model)
    # Inference is a hint here: unknown ranks only lose those sites.
    return {} if inferred is None else ranks(inferred.graph)


def _rank(
    tensor: str, inferred: Mapping[str, int], observed: Mapping[str, int] | None
) -> tuple[int | None, str]:
    """The rank of ``tensor`` and where it came from."""
    if tensor in inferred:
        return inferred[tensor], "inferred by ONNX shape inference"
    if observed is not None and tensor in observed:
        return observed[tensor], "observed by onnxruntime"
    return None, ""


class _Trace:
    """Walks back from a Softmax's input to the MatMul of queries and transposed keys, and
    remembers the closest miss, for the verdict's reason."""

    def __init__(self, writers: dict[str, onnx.NodeProto], constants: set[str]) -> None:
        self.writers = writers
        self.constants = constants
        self.misses: list[str] = []

    def scores_matmul(self, tensor: str, hops: int) -> onnx.NodeProto | None:
        """The MatMul of queries and transposed keys that ``tensor`` is computed from,
        through at most ``_MAX_HOPS`` scale/mask/cast ops."""
        node = self.writers.get(tensor)
        if node is None or hops > _MAX_HOPS or not is_default_domain(node.domain):
            made = "a graph input or constant" if node is None else f"{node.op_type} '{node.name}'"
            if hops > _MAX_HOPS:
                made = f"more than {_MAX_HOPS} scale, mask or cast ops"
            self.misses.append(f"its input comes from {made}, not from MatMul(Q, K^T)")
            return None
        if node.op_type in ("MatMul", "Gemm"):
            return self._check_matmul(node)
        if node.op_type not in _SCORE_OPS:
            self.misses.append(
                f"its input comes from {node.op_type} '{node.name}', which is neither "
                "MatMul(Q, K^T) nor a scale, mask or cast after one"
            )
            return None
        operands = node.input[1:] if node.op_type == "Where" else node.input
        for name in operands:
            if name and name not in self.constants:
                found = self.scores_matmul(name, hops + 1)
                if found is not None:
                    return found
        return None

    def _check_matmul(self, node: onnx.NodeProto) -> onnx.NodeProto | None:
        if node.op_type == "Gemm" or any(name in self.constants for name in node.input):
            self.misses.insert(
                0,
                f"its scores come from {node.op_type} '{node.name}' with a constant operand: "
                "a projection by weights, not queries times keys",
            )
            return None
        if not _is_transposed_key(node.input[1], self.writers, 0):
            self.misses.insert(
                0,
                f"MatMul '{node.name}' multiplies two computed tensors, but its second "
                "operand is not a transposed key (no Transpose moving the last axis)",
            )
            return None
        return node

    def why_not(self) -> str:
        return self.misses[0] if self.misses else "no MatMul(Q, K^T) before it"


def _is_transposed_key(tensor: str, writers: dict[str, onnx.NodeProto], hops: int) -> bool:
    node = writers.get(tensor)
    if node is None or hops > _MAX_HOPS or node.op_type not in _KEY_OPS:
        return False
    if node.op_type == "Transpose":
        perm = attribute(node, "perm")
        if perm is None or (len(perm) > 1 and perm[-1] != len(perm) - 1):
            return True  # no perm reverses every axis: the last one moves too
    return bool(node.input) and _is_transposed_key(node.input[0], writers, hops + 1)


def _all_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The main graph's nodes, those of its subgraphs, and those of model-local functions."""
    return [*walk_nodes(model.graph), *(n for f in model.functions for n in f.node)]


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor onnx's shape inference can type (float if it cannot)."""
    inferred = infer_shapes(model)  # a hint only: untyped tensors are declared float
    return element_types((model if inferred is None else inferred).graph)


def _mask_feed(mask: np.ndarray, batch: int, rank: int) -> np.ndarray:
    heads = np.asarray(mask, dtype=np.float64)
    if rank == 3:
        return np.tile(heads, batch).reshape(-1, 1, 1)
    return heads.reshape(1, -1, 1, 1)
