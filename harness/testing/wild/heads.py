"""Hard cases by output kind: heads whose first output is not (batch, classes), and a vision
transformer whose attention softmax has no rank ONNX shape inference can give.

Each builder writes one small ONNX file (random weights from a fixed seed, assembled node
by node with ``onnx.helper``: no download, no exporter) into ``dest`` and returns its path.
Every batch axis is symbolic (``batch``), so the harness may feed any number of samples.

    build_sentence_embedding  token ids + mask -> mean-pooled (batch, 32) float, no softmax
    build_segmentation        image -> (batch, 4, 16, 16) per-pixel class probabilities
    build_ctc_head            features -> (time, batch, classes) log-probabilities
    build_detection_head      image -> (batch, 16, 6) rows [x1, y1, x2, y2, score, class]
    build_vit_unranked        image -> (batch, 5) logits through two attention layers whose
                              Softmax(axis=3) input has no inferable rank
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "CTC_CLASSES",
    "CTC_FRAMES",
    "DETECTION_ROWS",
    "EMBEDDING_WIDTH",
    "IMAGE_SIZE",
    "SEGMENTATION_CLASSES",
    "VIT_HEADS",
    "VIT_LAYERS",
    "VIT_PATCHES",
    "VOCAB",
    "build_ctc_head",
    "build_detection_head",
    "build_segmentation",
    "build_sentence_embedding",
    "build_vit_unranked",
]

OPSET = 17
IR_VERSION = 8
VOCAB, SEQUENCE, EMBEDDING_WIDTH = 60, 12, 32
IMAGE_SIZE, SEGMENTATION_CLASSES = 16, 4
CTC_FEATURES, CTC_FRAMES, CTC_CLASSES = 8, 7, 6  # 14 input frames, paired: 7 output frames
DETECTION_ROWS = 16  # one row per 4x4 cell of a 16x16 image
VIT_DIM, VIT_HEADS, VIT_LAYERS, VIT_CLASSES = 16, 2, 2, 5
VIT_PATCHES = (IMAGE_SIZE // 4) ** 2


class _Graph:
    """Nodes and initializers collected in order; weights from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, name: str, shape: Sequence[int]) -> str:
        """He-style scale, 1/sqrt(fan-in), so activations neither vanish nor saturate the
        softmaxes; biases (rank 1) small."""
        fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))
        scale = 0.1 if len(shape) == 1 else fan_in**-0.5
        values = (self.rng.standard_normal(tuple(shape)) * scale).astype(np.float32)
        return self.constant(name, values)

    def constant(self, name: str, values: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def ints(self, name: str, values: Sequence[int]) -> str:
        return self.constant(name, np.asarray(values, dtype=np.int64))

    def op(self, op_type: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [output], name=output, **attributes)
        )
        return output

    def save(
        self,
        dest: Path,
        filename: str,
        inputs: Sequence[onnx.ValueInfoProto],
        outputs: Sequence[onnx.ValueInfoProto],
    ) -> Path:
        graph = helper.make_graph(self.nodes, filename.removesuffix(".onnx"), inputs, outputs)
        graph.initializer.extend(self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="harness.testing.wild.heads",
        )
        onnx.checker.check_model(model)
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / filename
        onnx.save_model(model, str(path))
        return path


def _image_input() -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(
        "pixel_values", TensorProto.FLOAT, ["batch", 3, IMAGE_SIZE, IMAGE_SIZE]
    )


def build_sentence_embedding(dest: Path) -> Path:
    """A sentence-transformers style encoder (all-MiniLM and kin exported without their
    classifier): token ids and attention mask -> embeddings -> a Tanh projection -> the
    mask-weighted mean over tokens, (batch, 32) floats. No softmax and no class axis: the
    'predicted class' of it would be one coordinate of the embedding."""
    g = _Graph(seed=11)
    hidden = g.op("Gather", [g.weight("embeddings", (VOCAB, EMBEDDING_WIDTH)), "input_ids"], "tok")
    proj = g.op("MatMul", [hidden, g.weight("dense", (EMBEDDING_WIDTH, EMBEDDING_WIDTH))], "proj")
    states = g.op("Tanh", [proj], "token_embeddings")
    mask = g.op("Cast", ["attention_mask"], "mask_float", to=TensorProto.FLOAT)
    mask3 = g.op("Unsqueeze", [mask, g.ints("last_axis", [2])], "mask3")
    summed = g.op(
        "ReduceSum",
        [g.op("Mul", [states, mask3], "masked"), g.ints("seq_axis", [1])],
        "summed",
        keepdims=0,
    )
    count = g.op("ReduceSum", [mask3, "seq_axis"], "count", keepdims=0)
    floor = g.op("Max", [count, g.constant("one", np.ones(1, np.float32))], "count_floor")
    g.op("Div", [summed, floor], "sentence_embedding")
    ids = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", SEQUENCE])
        for name in ("input_ids", "attention_mask")
    ]
    out = helper.make_tensor_value_info(
        "sentence_embedding", TensorProto.FLOAT, ["batch", EMBEDDING_WIDTH]
    )
    return g.save(dest, "sentence_embedding.onnx", ids, [out])


def build_segmentation(dest: Path) -> Path:
    """A semantic-segmentation head (FCN/DeepLab/SegFormer exports): an image in, a
    per-pixel class probability map of the input's spatial size out, (batch, 4, 16, 16),
    softmax over the class axis."""
    g = _Graph(seed=12)
    x = g.op(
        "Conv",
        ["pixel_values", g.weight("conv1", (8, 3, 3, 3)), g.weight("b1", (8,))],
        "conv1_out",
        pads=[1, 1, 1, 1],
    )
    x = g.op("Relu", [x], "relu1")
    weight = g.weight("classifier", (SEGMENTATION_CLASSES, 8, 1, 1))
    logits = g.op("Conv", [x, weight, g.weight("b2", (SEGMENTATION_CLASSES,))], "seg_logits")
    g.op("Softmax", [logits], "probabilities", axis=1)
    out = helper.make_tensor_value_info(
        "probabilities", TensorProto.FLOAT, ["batch", SEGMENTATION_CLASSES, IMAGE_SIZE, IMAGE_SIZE]
    )
    return g.save(dest, "segmentation.onnx", [_image_input()], [out])


def build_ctc_head(dest: Path) -> Path:
    """A speech-recognition CTC head as ``torch.nn.CTCLoss`` wants it (DeepSpeech, QuartzNet
    exports): (batch, 14, 8) feature frames, paired (time downsampled by 2), projected to 6
    classes (class 0 the blank), time-major log-probabilities (7, batch, 6)."""
    g = _Graph(seed=13)
    pairs = g.op(
        "Reshape", ["features", g.ints("pair_shape", [0, CTC_FRAMES, 2 * CTC_FEATURES])], "paired"
    )
    hidden = g.op(
        "Relu", [g.op("MatMul", [pairs, g.weight("w1", (2 * CTC_FEATURES, 16))], "h")], "h_relu"
    )
    logits = g.op("MatMul", [hidden, g.weight("w2", (16, CTC_CLASSES))], "frame_logits")
    time_major = g.op("Transpose", [logits], "time_major", perm=[1, 0, 2])
    g.op("LogSoftmax", [time_major], "log_probs", axis=2)
    features = helper.make_tensor_value_info(
        "features", TensorProto.FLOAT, ["batch", 2 * CTC_FRAMES, CTC_FEATURES]
    )
    out = helper.make_tensor_value_info(
        "log_probs", TensorProto.FLOAT, [CTC_FRAMES, "batch", CTC_CLASSES]
    )
    return g.save(dest, "ctc_head.onnx", [features], [out])


def build_detection_head(dest: Path) -> Path:
    """An object detector's decoded output (YOLO/SSD exports after their box decoding): an
    image in, one row per anchor out, (batch, 16, 6) = [x1, y1, x2, y2, score, class], the
    score a sigmoid and the class an argmax cast to float."""
    g = _Graph(seed=14)
    cells = g.op(
        "Conv",
        ["pixel_values", g.weight("stem", (8, 3, 4, 4)), g.weight("sb", (8,))],
        "cells",
        strides=[4, 4],
    )
    flat = g.op(
        "Reshape", [g.op("Relu", [cells], "cells_relu"), g.ints("rows", [0, 8, -1])], "flat"
    )
    anchors = g.op("Transpose", [flat], "anchors", perm=[0, 2, 1])  # (batch, 16, 8)
    xy = g.op("Sigmoid", [g.op("MatMul", [anchors, g.weight("wxy", (8, 2))], "xy_raw")], "xy01")
    wh = g.op("Sigmoid", [g.op("MatMul", [anchors, g.weight("wwh", (8, 2))], "wh_raw")], "wh01")
    size = g.constant("image_size", np.full(1, float(IMAGE_SIZE), np.float32))
    half = g.op(
        "Mul", [wh, g.constant("quarter_image", np.full(1, IMAGE_SIZE / 4, np.float32))], "half_wh"
    )
    centre = g.op("Mul", [xy, size], "centre")
    x1y1 = g.op("Sub", [centre, half], "x1y1")
    x2y2 = g.op("Add", [centre, half], "x2y2")
    score = g.op("Sigmoid", [g.op("MatMul", [anchors, g.weight("wobj", (8, 1))], "obj")], "score")
    classes = g.op("MatMul", [anchors, g.weight("wcls", (8, 3))], "class_logits")
    label = g.op(
        "Cast",
        [g.op("ArgMax", [classes], "label_i", axis=2, keepdims=1)],
        "label",
        to=TensorProto.FLOAT,
    )
    g.op("Concat", [x1y1, x2y2, score, label], "detections", axis=2)
    out = helper.make_tensor_value_info(
        "detections", TensorProto.FLOAT, ["batch", DETECTION_ROWS, 6]
    )
    return g.save(dest, "detection_head.onnx", [_image_input()], [out])


def build_vit_unranked(dest: Path) -> Path:
    """A small vision transformer as exporters other than PyTorch's write it (tf2onnx,
    paddle2onnx): 4x4 patches -> 16 tokens of width 16 -> two attention layers of two heads
    -> mean over tokens -> 5 logits, then ``probs`` = softmax(logits) as a second output.

    Every head split is a ``Reshape`` whose shape is assembled at run time from a ``Shape``
    of the Reshape's own input, squeezed by axes computed at run time, so ONNX shape
    inference cannot give the rank of anything after it (no value_info is written either);
    the attention itself is ``Softmax(MatMul(q * scale, Transpose(k)), axis=3)``."""
    g = _Graph(seed=15)
    kernel, bias = g.weight("patch", (VIT_DIM, 3, 4, 4)), g.weight("patch_b", (VIT_DIM,))
    patches = g.op("Conv", ["pixel_values", kernel, bias], "patches", strides=[4, 4])
    flat = _runtime_reshape(g, patches, [0, VIT_DIM, -1], "tok")
    tokens = g.op("Transpose", [flat], "tokens0", perm=[0, 2, 1])
    g.constant("scale", np.full(1, (VIT_DIM // VIT_HEADS) ** -0.5, np.float32))
    for layer in range(VIT_LAYERS):
        tokens = _vit_layer(g, tokens, layer)
    pooled = g.op("ReduceMean", [tokens], "pooled", axes=[1], keepdims=0)
    projected = g.op("MatMul", [pooled, g.weight("head", (VIT_DIM, VIT_CLASSES))], "head_mm")
    logits = g.op("Add", [projected, g.weight("head_b", (VIT_CLASSES,))], "logits")
    g.op("Softmax", [logits], "probs", axis=-1)
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", VIT_CLASSES])
        for name in ("logits", "probs")
    ]
    return g.save(dest, "vit_unranked.onnx", [_image_input()], outputs)


def _vit_layer(g: _Graph, tokens: str, layer: int) -> str:
    """One pre-scaled attention layer with a residual; returns the layer's output tokens."""
    p = f"l{layer}_"
    dh = VIT_DIM // VIT_HEADS

    def heads(name: str, perm: list[int]) -> str:
        projected = g.op(
            "MatMul", [tokens, g.weight(p + name + "_w", (VIT_DIM, VIT_DIM))], p + name
        )
        split = _runtime_reshape(g, projected, [0, 0, VIT_HEADS, dh], p + name + "_split")
        return g.op("Transpose", [split], p + name + "_heads", perm=perm)

    q = g.op("Mul", [heads("q", [0, 2, 1, 3]), "scale"], p + "q_scaled")
    k_t = heads("k", [0, 2, 3, 1])  # (batch, heads, dh, tokens): the transposed keys
    v = heads("v", [0, 2, 1, 3])
    scores = g.op("MatMul", [q, k_t], p + "scores")
    attention = g.op("Softmax", [scores], p + "attention", axis=3)
    context = g.op(
        "Transpose", [g.op("MatMul", [attention, v], p + "ctx")], p + "ctx_t", perm=[0, 2, 1, 3]
    )
    merged = _runtime_reshape(g, context, [0, 0, VIT_DIM], p + "merged")
    out = g.op("MatMul", [merged, g.weight(p + "o_w", (VIT_DIM, VIT_DIM))], p + "out")
    return g.op("Add", [tokens, out], p + "residual")


def _runtime_reshape(g: _Graph, tensor: str, dims: list[int], name: str) -> str:
    """``Reshape(tensor, shape)`` with ``shape`` = ``dims`` assembled at run time: the
    input's Shape, multiplied by 0 and added to ``dims``, then squeezed by axes that are
    themselves computed, so shape inference cannot tell the shape's length (the rank)."""
    shape = g.op("Shape", [tensor], name + "_shape")
    first = g.op(
        "Slice", [shape, g.ints(name + "_s0", [0]), g.ints(name + "_s1", [1])], name + "_first"
    )
    zeros = g.op("Mul", [first, g.ints(name + "_zero", [0])], name + "_zeros")
    wanted = g.op("Add", [zeros, g.ints(name + "_dims", dims)], name + "_wanted")
    # Unsqueeze then Squeeze by an axis taken from a runtime value: the length is unknown.
    axis = g.op("ReduceMin", [zeros], name + "_axis", keepdims=1)
    lifted = g.op("Unsqueeze", [wanted, g.ints(name + "_u", [0])], name + "_lifted")
    flat = g.op("Squeeze", [lifted, axis], name + "_flat")
    return g.op("Reshape", [tensor, flat], name)
