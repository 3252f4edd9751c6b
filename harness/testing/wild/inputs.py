"""Hard cases for the input conventions of real exports: dims with neither a value nor a
name, -1 written for "any size", a scalar input, a recurrent state whose batch is on axis 1,
and raw audio as one long 2-D input.

``CASES`` lists each case with the flags an audit of it needs and its hand-counted matrix
FLOPs per sample (``benchmarks.wild_corpus`` audits them all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "AUDIO_FRAME",
    "AUDIO_SAMPLES",
    "CASES",
    "RNN_FEATURES",
    "RNN_HIDDEN",
    "UNNAMED_FEATURES",
    "build_nhwc_minus_one",
    "build_raw_audio",
    "build_stateful_rnn",
    "build_unnamed_dims",
]

OPSET = 17
IR_VERSION = 8
SEED = 0

UNNAMED_FEATURES = 64
UNNAMED_CLASSES = 10
NHWC_SIDE = 32
NHWC_FILTERS = 8
NHWC_CLASSES = 10
RNN_FEATURES = 16
RNN_HIDDEN = 32
RNN_CLASSES = 5
RNN_RATE = 16000
AUDIO_SAMPLES = 40_000
AUDIO_FRAME = 100
AUDIO_CHANNELS = 16
AUDIO_CLASSES = 4


def _weight(rng: np.random.Generator, name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array((0.1 * rng.standard_normal(shape)).astype(np.float32), name)


def _const(name: str, values: Any, dtype: type) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


def _save(graph: onnx.GraphProto, dest: Path, filename: str) -> Path:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="wild.inputs",
    )
    onnx.checker.check_model(model, full_check=True)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    onnx.save_model(model, str(path))
    return path


def build_unnamed_dims(dest: Path) -> Path:
    """A linear classifier whose input is ``[?, ?]``: both dims dynamic with no name, as
    older tf2onnx and hand-edited graphs leave them. Only ``--shape input=1x64`` (by
    position) can size the second dim; the harness has no default for it."""
    rng = np.random.default_rng(SEED)
    nodes = [helper.make_node("MatMul", ["input", "W"], ["logits"], name="classifier")]
    graph = helper.make_graph(
        nodes,
        "unnamed_dims",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, UNNAMED_CLASSES])],
        [_weight(rng, "W", UNNAMED_FEATURES, UNNAMED_CLASSES)],
    )
    return _save(graph, dest, "unnamed_dims.onnx")


def build_nhwc_minus_one(dest: Path) -> Path:
    """A TensorFlow SavedModel CNN as tf2onnx writes it: NHWC image input with
    ``dim_value: -1`` for the batch, tensor names with ``:`` and ``/``
    (``serving_default_input_1:0``), a Transpose to NCHW before the first Conv."""
    rng = np.random.default_rng(SEED)
    image = "serving_default_input_1:0"
    logits = "StatefulPartitionedCall/model/dense/BiasAdd:0"
    nodes = [
        helper.make_node("Transpose", [image], ["model/nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["model/nchw", "model/conv/kernel"], ["model/conv/out"]),
        helper.make_node("Relu", ["model/conv/out"], ["model/conv/relu"]),
        helper.make_node("GlobalAveragePool", ["model/conv/relu"], ["model/pool"]),
        helper.make_node("Flatten", ["model/pool"], ["model/flat"]),
        helper.make_node(
            "Gemm", ["model/flat", "model/dense/kernel", "model/dense/bias"], [logits]
        ),
    ]
    inits = [
        _weight(rng, "model/conv/kernel", NHWC_FILTERS, 3, 3, 3),
        _weight(rng, "model/dense/kernel", NHWC_FILTERS, NHWC_CLASSES),
        _weight(rng, "model/dense/bias", NHWC_CLASSES),
    ]
    side = [-1, NHWC_SIDE, NHWC_SIDE, 3]
    graph = helper.make_graph(
        nodes,
        "nhwc_minus_one",
        [helper.make_tensor_value_info(image, TensorProto.FLOAT, side)],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT, [-1, NHWC_CLASSES])],
        inits,
    )
    return _save(graph, dest, "nhwc_minus_one.onnx")


def build_stateful_rnn(dest: Path) -> Path:
    """A streaming speech model as exported with its state: features ``[batch, time, 16]``,
    a rank-0 ``sample_rate`` that an ``If`` branches on (16 kHz passes the features, anything
    else halves them), a GRU whose ``initial_h`` is ``[layers=1, batch, hidden]`` (the batch
    on axis 1, as ONNX's RNN ops require), logits and the final state as outputs."""
    rng = np.random.default_rng(SEED)
    shape: list[str | int | None] = ["batch", "time", RNN_FEATURES]
    same = helper.make_graph(
        [helper.make_node("Identity", ["features"], ["picked_same"])],
        "rate_matches",
        [],
        [helper.make_tensor_value_info("picked_same", TensorProto.FLOAT, shape)],
    )
    halved = helper.make_graph(
        [helper.make_node("Mul", ["features", "half"], ["picked_half"])],
        "rate_differs",
        [],
        [helper.make_tensor_value_info("picked_half", TensorProto.FLOAT, shape)],
    )
    nodes = [
        helper.make_node("Equal", ["sample_rate", "expected_rate"], ["rate_ok"]),
        helper.make_node("If", ["rate_ok"], ["picked"], then_branch=same, else_branch=halved),
        helper.make_node("Transpose", ["picked"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node(
            "GRU",
            ["time_major", "gru_W", "gru_R", "gru_B", "", "initial_h"],
            ["gru_Y", "final_h"],
            hidden_size=RNN_HIDDEN,
        ),
        helper.make_node("Squeeze", ["final_h", "axis0"], ["last_hidden"]),
        helper.make_node("Gemm", ["last_hidden", "head_W", "head_B"], ["logits"]),
    ]
    inits = [
        _const("expected_rate", RNN_RATE, np.int64),
        _const("half", 0.5, np.float32),
        _const("axis0", [0], np.int64),
        _weight(rng, "gru_W", 1, 3 * RNN_HIDDEN, RNN_FEATURES),
        _weight(rng, "gru_R", 1, 3 * RNN_HIDDEN, RNN_HIDDEN),
        _weight(rng, "gru_B", 1, 6 * RNN_HIDDEN),
        _weight(rng, "head_W", RNN_HIDDEN, RNN_CLASSES),
        _weight(rng, "head_B", RNN_CLASSES),
    ]
    inputs = [
        helper.make_tensor_value_info("features", TensorProto.FLOAT, shape),
        helper.make_tensor_value_info("sample_rate", TensorProto.INT64, []),
        helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, [1, "batch", RNN_HIDDEN]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", RNN_CLASSES]),
        helper.make_tensor_value_info("final_h", TensorProto.FLOAT, [1, "batch", RNN_HIDDEN]),
    ]
    graph = helper.make_graph(nodes, "stateful_rnn", inputs, outputs, inits)
    return _save(graph, dest, "stateful_rnn.onnx")


def build_raw_audio(dest: Path) -> Path:
    """A keyword spotter on raw audio: a 2-D ``audio`` input ``[batch, ?]`` (the sample
    count unnamed, 40,000 samples at 16 kHz in use) and a rank-0 ``sample_rate`` that scales
    it, framed by a Reshape into 100-sample frames, a per-frame projection, mean over
    frames, a linear head. Nothing sizes the samples or the rate: both need a flag."""
    rng = np.random.default_rng(SEED)
    nodes = [
        helper.make_node("Cast", ["sample_rate"], ["rate_float"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["rate_float", "reference_rate"], ["rate_scale"]),
        helper.make_node("Mul", ["audio", "rate_scale"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "frame_shape"], ["frames"]),
        helper.make_node("MatMul", ["frames", "frame_W"], ["projected"]),
        helper.make_node("Relu", ["projected"], ["activated"]),
        helper.make_node("ReduceMean", ["activated"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "head_W"], ["logits"]),
    ]
    inits = [
        _const("reference_rate", float(RNN_RATE), np.float32),
        _const("frame_shape", [0, -1, AUDIO_FRAME], np.int64),
        _weight(rng, "frame_W", AUDIO_FRAME, AUDIO_CHANNELS),
        _weight(rng, "head_W", AUDIO_CHANNELS, AUDIO_CLASSES),
    ]
    inputs = [
        helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", None]),
        helper.make_tensor_value_info("sample_rate", TensorProto.INT64, []),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", AUDIO_CLASSES])]
    graph = helper.make_graph(nodes, "raw_audio", inputs, outputs, inits)
    return _save(graph, dest, "raw_audio.onnx")


# Matrix FLOPs per sample (2 per multiply-add of the MatMul/Gemm/Conv/GRU nodes), by hand.
_NHWC_OUT = NHWC_SIDE - 2
_GRU_STEP = 3 * RNN_HIDDEN * (RNN_FEATURES + RNN_HIDDEN)

# (name, builder, the flags its audit needs, hand-counted matrix FLOPs per sample or None)
CASES: list[tuple[str, Any, list[str], int | None]] = [
    (
        "unnamed_dims",
        build_unnamed_dims,
        ["--shape", f"input=1x{UNNAMED_FEATURES}"],
        2 * UNNAMED_FEATURES * UNNAMED_CLASSES,
    ),
    (
        "nhwc_minus_one",
        build_nhwc_minus_one,
        [],
        2 * (_NHWC_OUT**2 * NHWC_FILTERS * 27 + NHWC_FILTERS * NHWC_CLASSES),
    ),
    (
        "stateful_rnn",
        build_stateful_rnn,
        ["--shape", f"features=1x50x{RNN_FEATURES}", "--value", f"sample_rate={RNN_RATE}"],
        2 * (50 * _GRU_STEP + RNN_HIDDEN * RNN_CLASSES),
    ),
    (
        "raw_audio",
        build_raw_audio,
        ["--shape", f"audio=1x{AUDIO_SAMPLES}", "--value", f"sample_rate={RNN_RATE}"],
        2 * (AUDIO_SAMPLES * AUDIO_CHANNELS + AUDIO_CHANNELS * AUDIO_CLASSES),
    ),
]
