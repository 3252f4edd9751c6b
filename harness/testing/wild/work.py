"""Hard cases for counting the work of real exports: FLOPs through dynamic reshapes, weights
stored as Constant nodes, and a graph of onnxruntime's own contrib ops.

The dimensions are module constants so the tests can count each case by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "CONSTANT_MLP_HIDDEN",
    "CONSTANT_MLP_IN",
    "CONSTANT_MLP_OUT",
    "CONTRIB_HIDDEN",
    "ENCODER_FFN",
    "ENCODER_HEADS",
    "ENCODER_HEAD_DIM",
    "ENCODER_HIDDEN",
    "ENCODER_VOCAB",
    "build_bert_dynamic_reshape",
    "build_constant_node_weights",
    "build_contrib_op_block",
]

OPSET = 17
IR_VERSION = 8
SEED = 0

ENCODER_VOCAB = 50
ENCODER_HIDDEN = 32
ENCODER_HEADS = 4
ENCODER_HEAD_DIM = ENCODER_HIDDEN // ENCODER_HEADS
ENCODER_FFN = 64

CONSTANT_MLP_IN = 16
CONSTANT_MLP_HIDDEN = 32
CONSTANT_MLP_OUT = 10

CONTRIB_HIDDEN = 32


class _Graph:
    """Nodes and weights collected while a builder writes its graph."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._rng = np.random.default_rng(SEED)

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def weight(self, name: str, *shape: int) -> str:
        values = (0.1 * self._rng.standard_normal(shape)).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(values, name))
        return name

    def const(self, name: str, values: Any, dtype: type) -> str:
        """A small constant initializer (shape data, a scalar) of ``dtype``."""
        self.initializers.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def model(
        self,
        name: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        *extra_opsets: tuple[str, int],
    ) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        opsets = [helper.make_opsetid("", OPSET)]
        opsets += [helper.make_opsetid(domain, version) for domain, version in extra_opsets]
        return helper.make_model(
            graph, opset_imports=opsets, ir_version=IR_VERSION, producer_name="wild.work"
        )


def _save(model: onnx.ModelProto, dest: Path, filename: str) -> Path:
    onnx.checker.check_model(model, full_check=True)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    onnx.save_model(model, str(path))
    return path


# ------------------------------------------------------------------ dynamic reshapes


def build_bert_dynamic_reshape(dest: Path) -> Path:
    """A one-layer BERT-style encoder whose attention reshapes take their sizes from the
    input at run time, as a real BERT export does.

    ``input_ids`` and ``attention_mask`` int64 (batch, sequence) -> ``last_hidden_state``
    (batch, sequence, 32): token embedding, LayerNorm, Q/K/V projections, 4 heads of 8,
    BERT's additive mask ``(1 - mask) * -10000``, softmax, output projection, residual,
    LayerNorm, a feed-forward block of 64 with erf GELU, residual, LayerNorm.

    The head split's target is ``Concat(batch, sequence, 4, 8)``, its sizes read off
    ``Shape`` of the hidden states: the batch through ``Shape -> Gather -> Unsqueeze`` (what
    torch writes for ``x.size(0)``), the sequence through a ``GatherElements`` (axis 0) over
    the unsqueezed shape (1, 3) with indices (1, 2), then Squeeze and Slice. onnxruntime
    runs that GatherElements (its output takes the indices' shape: batch, sequence) but
    onnx's reference evaluator rejects it ("all dimensions of index and self should be the
    same size"), and shape inference's data propagation does not follow it: after the
    reshapes, every tensor's shape is unknown to inference and to constant folding, as after
    the op the evaluator could not run in the real BERT export of issue 15.
    """
    g = _Graph()
    hidden, heads, head_dim, ffn = ENCODER_HIDDEN, ENCODER_HEADS, ENCODER_HEAD_DIM, ENCODER_FFN
    axis0 = g.const("axis0", [0], np.int64)
    g.node("Gather", [g.weight("word_embeddings", ENCODER_VOCAB, hidden), "input_ids"], "emb")
    x0 = _layer_norm(g, "emb", "ln0")

    # The dynamic sizes: batch the way torch exports x.size(0), sequence via GatherElements.
    g.node("Shape", [x0], "x_shape")
    g.node("Gather", ["x_shape", g.const("zero", 0, np.int64)], "batch", axis=0)
    g.node("Unsqueeze", ["batch", axis0], "batch_1d")
    g.node("Unsqueeze", ["x_shape", axis0], "x_shape_row")  # (1, 3)
    pair_index = g.const("pair_index", [[0, 0]], np.int64)  # (1, 2): narrower than (1, 3)
    g.node("GatherElements", ["x_shape_row", pair_index], "pair_row", axis=0)
    g.node("Squeeze", ["pair_row", axis0], "batch_and_seq")
    one_1d = g.const("one_1d", [1], np.int64)
    g.node("Slice", ["batch_and_seq", one_1d, g.const("two_1d", [2], np.int64)], "seq_1d")
    heads_tail = g.const("heads_tail", [heads, head_dim], np.int64)
    g.node("Concat", ["batch_1d", "seq_1d", heads_tail], "split_shape", axis=0)
    hidden_tail = g.const("hidden_tail", [hidden], np.int64)
    g.node("Concat", ["batch_1d", "seq_1d", hidden_tail], "merge_shape", axis=0)

    def heads_of(name: str, perm: list[int]) -> str:
        projected = _linear(g, x0, name, hidden, hidden)
        g.node("Reshape", [projected, "split_shape"], f"{name}_split")
        return g.node("Transpose", [f"{name}_split"], f"{name}_heads", perm=perm)

    q = heads_of("query", [0, 2, 1, 3])  # (batch, heads, sequence, head_dim)
    k = heads_of("key", [0, 2, 3, 1])  # (batch, heads, head_dim, sequence)
    v = heads_of("value", [0, 2, 1, 3])
    g.node("MatMul", [q, k], "scores")
    scale = g.const("scale", math.sqrt(head_dim), np.float32)
    g.node("Div", ["scores", scale], "scaled")
    # BERT's extended attention mask: (batch, 1, 1, sequence), 0 where attended.
    g.node("Unsqueeze", ["attention_mask", g.const("mask_axes", [1, 2], np.int64)], "mask4")
    g.node("Cast", ["mask4"], "mask_float", to=TensorProto.FLOAT)
    g.node("Sub", [g.const("one", 1.0, np.float32), "mask_float"], "mask_inverted")
    g.node("Mul", ["mask_inverted", g.const("neg_big", -10000.0, np.float32)], "mask_add")
    g.node("Add", ["scaled", "mask_add"], "masked")
    g.node("Softmax", ["masked"], "probs", axis=-1)
    g.node("MatMul", ["probs", v], "context")
    g.node("Transpose", ["context"], "context_t", perm=[0, 2, 1, 3])
    g.node("Reshape", ["context_t", "merge_shape"], "context_merged")
    attended = _linear(g, "context_merged", "attn_out", hidden, hidden)
    g.node("Add", [attended, x0], "residual1")
    x1 = _layer_norm(g, "residual1", "ln1")

    up = _linear(g, x1, "ffn_in", hidden, ffn)
    g.node("Div", [up, g.const("sqrt2", math.sqrt(2.0), np.float32)], "gelu_div")
    g.node("Erf", ["gelu_div"], "gelu_erf")
    g.node("Add", ["gelu_erf", "one"], "gelu_add")
    g.node("Mul", [up, "gelu_add"], "gelu_mul")
    g.node("Mul", ["gelu_mul", g.const("half", 0.5, np.float32)], "gelu")
    down = _linear(g, "gelu", "ffn_out", ffn, hidden)
    g.node("Add", [down, x1], "residual2")
    _layer_norm(g, "residual2", "last_hidden_state")

    tokens = ["batch", "sequence"]
    model = g.model(
        "bert_dynamic_reshape",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, tokens),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, tokens),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*tokens, hidden])],
    )
    return _save(model, dest, "bert_dynamic_reshape.onnx")


def _linear(g: _Graph, x: str, name: str, fan_in: int, fan_out: int) -> str:
    """``x @ W + b`` as a BERT export writes it: MatMul, then Add."""
    g.node("MatMul", [x, g.weight(f"{name}_w", fan_in, fan_out)], f"{name}_mm")
    return g.node("Add", [f"{name}_mm", g.weight(f"{name}_b", fan_out)], name)


def _layer_norm(g: _Graph, x: str, name: str) -> str:
    gamma, beta = g.weight(f"{name}_g", ENCODER_HIDDEN), g.weight(f"{name}_b", ENCODER_HIDDEN)
    return g.node("LayerNormalization", [x, gamma, beta], name, axis=-1)


# ---------------------------------------------------------------- constant weights


def build_constant_node_weights(dest: Path) -> Path:
    """A two-layer perceptron whose weights are Constant nodes, not initializers, as
    exporters outside PyTorch (older Caffe2, MXNet, Paddle, hand-built graphs) often store
    them.

    ``x`` float (batch, 16) -> ``y`` (batch, 10). Weights: W1 (16, 32), b1 (32) and W2
    (32, 10) are Constant nodes holding float tensors; b2 (10) is an ordinary initializer
    (exports mix both). Constants that are not weights ride along: a float scalar tensor
    (0.5), a ``value_float`` attribute (2.0), and an int64 Reshape target. Parameters by
    hand: 16*32 + 32 + 32*10 + 10 = 874, all float32.
    """
    g = _Graph()
    rng = np.random.default_rng(SEED)

    def constant(name: str, values: np.ndarray) -> str:
        tensor = numpy_helper.from_array(values, f"{name}_value")
        g.nodes.append(helper.make_node("Constant", [], [name], name=name, value=tensor))
        return name

    def weights(name: str, *shape: int) -> str:
        return constant(name, (0.1 * rng.standard_normal(shape)).astype(np.float32))

    n_in, n_hidden, n_out = CONSTANT_MLP_IN, CONSTANT_MLP_HIDDEN, CONSTANT_MLP_OUT
    g.node("MatMul", ["x", weights("w1", n_in, n_hidden)], "h_mm")
    g.node("Add", ["h_mm", weights("b1", n_hidden)], "h_add")
    g.node("Relu", ["h_add"], "h")
    g.node("MatMul", ["h", weights("w2", n_hidden, n_out)], "o_mm")
    g.node("Add", ["o_mm", g.weight("b2", n_out)], "o_add")
    g.node("Mul", ["o_add", constant("half", np.array(0.5, dtype=np.float32))], "o_half")
    g.nodes.append(helper.make_node("Constant", [], ["two"], name="two", value_float=2.0))
    g.node("Mul", ["o_half", "two"], "o_scaled")
    g.node("Reshape", ["o_scaled", constant("target", np.array([-1, n_out], np.int64))], "y")
    model = g.model(
        "constant_node_weights",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
    )
    return _save(model, dest, "constant_node_weights.onnx")


# -------------------------------------------------------------------- contrib ops


def build_contrib_op_block(dest: Path) -> Path:
    """A transformer feed-forward block as onnxruntime's transformer optimiser leaves it:
    most of its nodes are ``com.microsoft`` contrib ops, which onnxruntime runs and ONNX
    does not define.

    ``x`` float (batch, sequence, 32) -> ``y`` (batch, sequence, 32):
    ``FusedMatMul`` (a MatMul with scaling), ``FastGelu`` (GELU with its bias), a plain
    ``MatMul``, ``SkipLayerNormalization`` (residual add and LayerNorm fused). The FLOP
    counter knows no contrib op: 3 of the 4 nodes, the FusedMatMul among them, have an
    unknown cost, so the count is incomplete.
    """
    g = _Graph()
    hidden = CONTRIB_HIDDEN
    w_in, bias = g.weight("w_in", hidden, hidden), g.weight("gelu_bias", hidden)
    ms = "com.microsoft"
    g.nodes.append(
        helper.make_node("FusedMatMul", ["x", w_in], ["h"], name="h", domain=ms, alpha=1.0)
    )
    g.nodes.append(helper.make_node("FastGelu", ["h", bias], ["a"], name="a", domain=ms))
    g.node("MatMul", ["a", g.weight("w_out", hidden, hidden)], "o")
    gamma, beta = g.weight("ln_g", hidden), g.weight("ln_b", hidden)
    g.nodes.append(
        helper.make_node(
            "SkipLayerNormalization", ["o", "x", gamma, beta], ["y"], name="y", domain=ms
        )
    )
    shape: list[str | int] = ["batch", "sequence", hidden]
    model = g.model(
        "contrib_op_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        ("com.microsoft", 1),
    )
    return _save(model, dest, "contrib_op_block.onnx")
