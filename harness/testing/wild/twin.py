"""Hard cases for the PyTorch twin: exports whose shapes the harness must respect when it
checks the twin against onnxruntime, and integer inputs whose embedding is not a token
model's usual one.

Each builder writes one small ONNX file (random weights from a fixed seed; exported from a
tiny PyTorch module, or assembled with ``onnx.helper``; nothing downloaded) into ``dest``
and returns its path.

    build_cnn_batch_one        image (1, 3, 16, 16) -> (1, 5): batch fixed at 1, the flatten
                               a Reshape to the constant [1, -1]
    build_pool_collapse        image (batch, 3, height, width) -> (batch, 5): strided convs
                               then a 2x2 max pool that no input below 32x32 survives
    build_static_transformer   token ids (2, 16) -> (2, 3): a two-layer encoder exported by
                               the dynamo exporter with static shapes
    build_byte_classifier      int64 byte ids (batch, 64) -> Gather on a 256-row table ->
                               mean -> Linear -> (batch, 4)
    build_one_hot_classifier   int64 ids (batch, 24) -> OneHot -> MatMul with a table ->
                               mean -> Gemm -> (batch, 3)
"""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "BYTE_LENGTH",
    "ONE_HOT_LENGTH",
    "ONE_HOT_VOCAB",
    "POOL_COLLAPSE_MIN_SIDE",
    "STATIC_BATCH",
    "STATIC_SEQUENCE",
    "build_byte_classifier",
    "build_cnn_batch_one",
    "build_one_hot_classifier",
    "build_pool_collapse",
    "build_static_transformer",
]

SEED = 0
IMAGE_SIDE = 16
POOL_COLLAPSE_MIN_SIDE = 32  # below this the max pool's input is 1x1: PyTorch refuses it
STATIC_BATCH, STATIC_SEQUENCE, STATIC_VOCAB = 2, 16, 50
BYTE_LENGTH = 64
ONE_HOT_VOCAB, ONE_HOT_LENGTH = 40, 24


def _quiet_export(*args: object, **kwargs: object) -> None:
    """torch.onnx.export, its chatter on stdout and its warnings kept off the caller's
    terminal."""
    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(*args, **kwargs)  # type: ignore[arg-type]


def _torchscript(
    module: object, example: tuple, path: Path, names: list[str], **kw: object
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _quiet_export(
        module, example, str(path), dynamo=False, opset_version=17,
        input_names=names, output_names=["logits"], **kw,
    )  # fmt: skip
    return path


# --------------------------------------------------------------------- fixed shapes


def build_cnn_batch_one(dest: Path) -> Path:
    """A CNN exported with no dynamic axes, as most "export with a dummy input of batch 1"
    scripts do (the ONNX model zoo's classic vision models, mobile exports): the input is
    (1, 3, 16, 16) and ``x.view(x.size(0), -1)`` became a Reshape to the constant [1, -1],
    so neither onnxruntime nor a faithful twin runs any other batch."""
    import torch
    from torch import nn

    class BatchOneCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.head = nn.Linear(8 * 8 * 8, 5)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.conv2(torch.relu(self.conv1(pixels))))
            return self.head(x.view(x.size(0), -1))

    torch.manual_seed(SEED)
    example = (torch.randn(1, 3, IMAGE_SIDE, IMAGE_SIDE),)
    return _torchscript(BatchOneCnn().eval(), example, dest / "cnn_batch_one.onnx", ["pixels"])


def build_pool_collapse(dest: Path) -> Path:
    """A small-input backbone (CIFAR-style ResNet stems, keyword-spotting CNNs) with dynamic
    height and width: four stride-2 convolutions, then a 2x2 max pool and a global average
    pool. At 32x32 the pool sees 2x2; at any side below 32 it sees 1x1, where PyTorch's
    pooling refuses to run ("Output size is too small") and onnxruntime gives an empty map.
    Audited at 32x32, a second size of half the side is one the model cannot run."""
    import torch
    from torch import nn

    class PoolCollapse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            channels = [3, 8, 8, 16, 16]
            self.convs = nn.ModuleList(
                nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in itertools.pairwise(channels)
            )
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Linear(16, 5)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels
            for conv in self.convs:
                x = torch.relu(conv(x))
            x = self.pool(x).mean(dim=(2, 3))
            return self.head(x)

    torch.manual_seed(SEED)
    side = POOL_COLLAPSE_MIN_SIDE
    axes = {0: "batch", 2: "height", 3: "width"}
    return _torchscript(
        PoolCollapse().eval(),
        (torch.randn(2, 3, side, side),),
        dest / "pool_collapse.onnx",
        ["pixels"],
        dynamic_axes={"pixels": axes, "logits": {0: "batch"}},
    )


def build_static_transformer(dest: Path) -> Path:
    """A small Transformer encoder classifier exported by the dynamo exporter
    (``torch.onnx.export(..., dynamo=True)``) without ``dynamic_shapes``, as the exporter's
    own examples do: every dim is fixed, (2, 16) token ids in, (2, 3) logits out, and the
    attention reshapes carry the batch and sequence as constants."""
    import torch
    from torch import nn

    class StaticEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(STATIC_VOCAB, 32)
            self.positions = nn.Parameter(torch.randn(STATIC_SEQUENCE, 32) * 0.02)
            layer = nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(32, 3)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            x = self.embedding(input_ids) + self.positions
            return self.head(self.encoder(x).mean(dim=1))

    torch.manual_seed(SEED)
    ids = torch.randint(0, STATIC_VOCAB, (STATIC_BATCH, STATIC_SEQUENCE))
    path = dest / "static_transformer.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    _quiet_export(
        StaticEncoder().eval(), (ids,), str(path), dynamo=True, external_data=False,
        opset_version=18, input_names=["input_ids"], output_names=["logits"],
    )  # fmt: skip
    return path


# ----------------------------------------------------------------- integer inputs


def build_byte_classifier(dest: Path) -> Path:
    """A byte-level text classifier (ByT5/CANINE-style inputs, malware and URL classifiers
    over raw bytes): int64 byte values (batch, 64), a Gather on a 256-row initializer table,
    the mean over positions, a Linear to 4 classes. The input declares no vocabulary (no
    ``harness.index_range``): the table's rows are the only bound on the ids."""
    import torch
    from torch import nn

    class ByteClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bytes = nn.Embedding(256, 16)
            self.head = nn.Linear(16, 4)

        def forward(self, byte_ids: torch.Tensor) -> torch.Tensor:
            return self.head(torch.tanh(self.bytes(byte_ids)).mean(dim=1))

    torch.manual_seed(SEED)
    ids = torch.randint(0, 256, (2, BYTE_LENGTH))
    return _torchscript(
        ByteClassifier().eval(),
        (ids,),
        dest / "byte_classifier.onnx",
        ["byte_ids"],
        dynamic_axes={"byte_ids": {0: "batch"}, "logits": {0: "batch"}},
    )


def build_one_hot_classifier(dest: Path) -> Path:
    """An embedding written as one-hot times a matrix (Keras/TF exports through tf2onnx,
    and TPU-minded code that avoids gathers): int64 ids (batch, 24) -> ``OneHot`` (depth 40)
    -> ``MatMul`` with a (40, 16) initializer -> mean over positions -> ``Gemm`` -> (batch,
    3). There is no Gather: the MatMul's output is the embedding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)

    def table(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        values = rng.standard_normal(shape).astype(np.float32) * shape[0] ** -0.5
        return numpy_helper.from_array(values, name)

    initializers = [
        table("embedding_table", (ONE_HOT_VOCAB, 16)),
        table("head_weight", (16, 3)),
        numpy_helper.from_array(np.zeros(3, np.float32), "head_bias"),
        numpy_helper.from_array(np.array(ONE_HOT_VOCAB, np.int64), "depth"),
        numpy_helper.from_array(np.array([0.0, 1.0], np.float32), "off_on"),
        numpy_helper.from_array(np.array([1], np.int64), "positions_axis"),
    ]
    nodes = [
        helper.make_node(
            "OneHot", ["ids", "depth", "off_on"], ["one_hot"], name="one_hot", axis=-1
        ),
        helper.make_node("MatMul", ["one_hot", "embedding_table"], ["embedded"], name="embed"),
        helper.make_node(
            "ReduceMean", ["embedded", "positions_axis"], ["pooled"], name="pool", keepdims=0
        ),
        helper.make_node("Gemm", ["pooled", "head_weight", "head_bias"], ["logits"], name="head"),
    ]
    graph = helper.make_graph(
        nodes,
        "one_hot_classifier",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", ONE_HOT_LENGTH])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8,
        producer_name="harness.testing.wild.twin",
    )  # fmt: skip
    onnx.checker.check_model(model, full_check=True)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "one_hot_classifier.onnx"
    onnx.save_model(model, str(path))
    return path
