"""Small ONNX models, valid and broken, that the test suite audits.

Every builder takes a destination folder and returns the path of the file it wrote. Torch
models are exported with the legacy TorchScript exporter (``dynamo=False``, opset 17,
``dynamic_axes``): it is fast and gives plain graphs with the input and output names we ask
for. The rest are assembled node by node with ``onnx.helper``. Builds are deterministic:
torch weights come from a fixed seed, and the helper graphs draw from a seeded numpy
generator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

__all__ = [
    "checker_failing_model",
    "external_data_escaping",
    "external_data_model",
    "mobilenet_v3_small",
    "nan_output_model",
    "recurrent_state_model",
    "resnet18",
    "scalar_input_model",
    "sequence_dim_model",
    "text_file_as_onnx",
    "tiny_cnn",
    "tiny_transformer",
    "token_ids_via_cast",
    "truncated_onnx",
    "two_in_two_out",
    "unresolvable_dim_model",
    "unsupported_op_model",
]

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17, and what the torch exporter writes
SEED = 0

# ---------------------------------------------------------------------------- helpers


def _export(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: dict[str, dict[int, str]],
    outputs: dict[str, dict[int, str]],
) -> Path:
    """Export ``module`` in eval mode with the legacy exporter; ``inputs``/``outputs`` map
    each name to its dynamic axes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated; it still works and is what we want here.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={**inputs, **outputs},
        )
    return path


def _value(name: str, elem_type: int, shape: Sequence[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, list(shape))


def _float(name: str, shape: Sequence[int | str]) -> onnx.ValueInfoProto:
    return _value(name, TensorProto.FLOAT, shape)


def _model(graph: onnx.GraphProto, *extra_opsets: tuple[str, int]) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", OPSET)]
    opsets += [helper.make_opsetid(domain, version) for domain, version in extra_opsets]
    return helper.make_model(
        graph, opset_imports=opsets, ir_version=IR_VERSION, producer_name="onnx_builders"
    )


def _save(model: onnx.ModelProto, dest: Path, filename: str) -> Path:
    """Save without checking (the broken builders rely on that)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    onnx.save_model(model, str(path))
    return path


def _weights(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------- torch models


class _TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14 -> 7
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 10))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixels))


def tiny_cnn(dest: Path) -> Path:
    """A small image classifier, ``pixels`` (batch,1,28,28) float32 -> ``logits`` (batch,10).

    Exercises the common case: one float image input with a dynamic batch named ``batch``,
    Conv/Relu/MaxPool/Flatten/Gemm.
    """
    torch.manual_seed(SEED)
    batch = {0: "batch"}
    return _export(
        _TinyCNN(),
        (torch.rand(2, 1, 28, 28),),
        dest / "tiny_cnn.onnx",
        {"pixels": batch},
        {"logits": batch},
    )


class _EncoderLayer(nn.Module):
    """Post-norm encoder layer with the attention written out, so the graph shows
    MatMul -> Div -> Where(mask) -> Softmax -> MatMul."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Linear(2 * d_model, d_model)
        )
        self.norm2 = nn.LayerNorm(d_model)

    def attention(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = (
            t.reshape(b, s, self.heads, self.head_dim).transpose(1, 2)
            for t in self.qkv(x).chunk(3, dim=-1)
        )
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (b,h,s,s)
        scores = scores.masked_fill(~keep[:, None, None, :], -1e9)  # padded keys
        context = scores.softmax(dim=-1) @ v
        return self.out(context.transpose(1, 2).reshape(b, s, d))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention(x, keep))
        return self.norm2(x + self.ff(x))


class _TinyTransformer(nn.Module):
    def __init__(self, vocab: int, d_model: int = 32, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        # Learned positions, sliced to the sequence length (at most MAX_LEN).
        self.position = nn.Parameter(0.02 * torch.randn(_TinyTransformer.MAX_LEN, d_model))
        self.layers = nn.ModuleList(_EncoderLayer(d_model, heads) for _ in range(layers))
        self.classifier = nn.Linear(d_model, 3)

    MAX_LEN = 64

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids) + self.position[: input_ids.shape[1]]
        keep = attention_mask != 0
        for layer in self.layers:
            x = layer(x, keep)
        weight = keep.unsqueeze(-1).to(x.dtype)  # mean over the unpadded tokens only
        pooled = (x * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=1.0)
        return self.classifier(pooled)


def tiny_transformer(dest: Path, vocab: int = 100) -> Path:
    """A two-layer Transformer encoder classifier (d_model 32, 2 heads, at most 64 tokens).

    ``input_ids`` and ``attention_mask`` int64 (batch, sequence) -> ``logits`` (batch, 3).
    Exercises token inputs: the embedding is a ``Gather`` whose data is an initializer with
    ``vocab`` rows and whose indices are ``input_ids`` itself; explicit masked softmax
    attention (padded keys get -1e9); masked mean pooling; two dynamic dims per input.
    """
    torch.manual_seed(SEED)
    tokens = {0: "batch", 1: "sequence"}
    ids = torch.randint(0, vocab, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.int64)
    mask[1, 5:] = 0
    return _export(
        _TinyTransformer(vocab),
        (ids, mask),
        dest / "tiny_transformer.onnx",
        {"input_ids": tokens, "attention_mask": tokens},
        {"logits": {0: "batch"}},
    )


class _TwoInTwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.features = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.class_head = nn.Linear(16, 5)
        self.score_head = nn.Linear(16, 1)

    def forward(
        self, image: torch.Tensor, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        joint = torch.cat([self.image(image), self.features(features)], dim=1)
        return self.class_head(joint), torch.sigmoid(self.score_head(joint))


def two_in_two_out(dest: Path) -> Path:
    """``image`` (batch,3,16,16) and ``features`` (batch,8) float32 -> ``class_logits``
    (batch,5) and ``score`` (batch,1, a sigmoid). Exercises several inputs and outputs."""
    torch.manual_seed(SEED)
    batch = {0: "batch"}
    return _export(
        _TwoInTwoOut(),
        (torch.rand(2, 3, 16, 16), torch.rand(2, 8)),
        dest / "two_in_two_out.onnx",
        {"image": batch, "features": batch},
        {"class_logits": batch, "score": batch},
    )


def _torchvision(name: str, dest: Path) -> Path:
    import torchvision  # deferred: only the slow tests need it

    torch.manual_seed(SEED)
    batch = {0: "batch"}
    model = getattr(torchvision.models, name)(weights=None)
    return _export(
        model,
        (torch.rand(1, 3, 224, 224),),
        dest / f"{name}.onnx",
        {"input": batch},
        {"output": batch},
    )


def resnet18(dest: Path) -> Path:
    """torchvision ResNet-18, random weights: ``input`` (batch,3,224,224) -> ``output``
    (batch,1000). Exercises a real-sized model (~45 MB, BatchNorm folded into Conv)."""
    return _torchvision("resnet18", dest)


def mobilenet_v3_small(dest: Path) -> Path:
    """torchvision MobileNetV3-Small, random weights: ``input`` (batch,3,224,224) ->
    ``output`` (batch,1000). Exercises depthwise convs, HardSwish/HardSigmoid, squeeze-excite."""
    return _torchvision("mobilenet_v3_small", dest)


# --------------------------------------------------------------- onnx.helper models


def scalar_input_model(dest: Path) -> Path:
    """``signal`` (batch,16) float32 times ``gain``, a rank-0 float32 scalar -> ``y``
    (batch,16). Exercises an input with no dims at all."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["signal", "gain"], ["y"])],
        "scalar_input",
        [_float("signal", ["batch", 16]), _float("gain", [])],
        [_float("y", ["batch", 16])],
    )
    return _save(_model(graph), dest, "scalar_input.onnx")


def recurrent_state_model(dest: Path) -> Path:
    """One recurrent step, ``h1 = tanh(x + h0)``, all (batch,8) float32. Exercises a state
    input (``h0``) that is shaped like the data and an output shaped like that state."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "h0"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h1"]),
        ],
        "recurrent_state",
        [_float("x", ["batch", 8]), _float("h0", ["batch", 8])],
        [_float("h1", ["batch", 8])],
    )
    return _save(_model(graph), dest, "recurrent_state.onnx")


def unresolvable_dim_model(dest: Path) -> Path:
    """Relu over ``x`` float32 ("batch", "mystery_dim"). Exercises a symbolic dim whose name
    says nothing (not batch-, sequence- or spatial-like), so no size can be inferred for it."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "unresolvable_dim",
        [_float("x", ["batch", "mystery_dim"])],
        [_float("y", ["batch", "mystery_dim"])],
    )
    return _save(_model(graph), dest, "unresolvable_dim.onnx")


def sequence_dim_model(dest: Path) -> Path:
    """Relu over ``tokens`` float32 ("batch", "sequence", 4). Exercises a float (not id)
    input with a named sequence dim."""
    shape: list[int | str] = ["batch", "sequence", 4]
    graph = helper.make_graph(
        [helper.make_node("Relu", ["tokens"], ["y"])],
        "sequence_dim",
        [_float("tokens", shape)],
        [_float("y", shape)],
    )
    return _save(_model(graph), dest, "sequence_dim.onnx")


def token_ids_via_cast(dest: Path) -> Path:
    """``ids`` int32 (batch,6) -> Cast(int64) -> Gather on a (50,4) table -> ReduceMean over
    the tokens -> ``pooled`` (batch,4). Exercises finding the vocabulary (50) through a Cast
    between the input and the Gather."""
    table = numpy_helper.from_array(_weights((50, 4)), "table")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "ids64"], ["vectors"], axis=0),
            helper.make_node("ReduceMean", ["vectors"], ["pooled"], axes=[1], keepdims=0),
        ],
        "token_ids_via_cast",
        [_value("ids", TensorProto.INT32, ["batch", 6])],
        [_float("pooled", ["batch", 4])],
        initializer=[table],
    )
    return _save(_model(graph), dest, "token_ids_via_cast.onnx")


def _matmul_graph(name: str, weight: onnx.TensorProto) -> onnx.GraphProto:
    """``x`` (batch,64) @ ``weight`` (64,64) -> ``y`` (batch,64)."""
    return helper.make_graph(
        [helper.make_node("MatMul", ["x", weight.name], ["y"])],
        name,
        [_float("x", ["batch", 64])],
        [_float("y", ["batch", 64])],
        initializer=[weight],
    )


def external_data_model(dest: Path) -> Path:
    """``y = x @ W`` with W a 64x64 float32 initializer stored in ``weights.bin`` beside
    the model. Exercises loading external data relative to the model file."""
    weight = numpy_helper.from_array(_weights((64, 64)), "W")
    model = _model(_matmul_graph("external_data", weight))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "external_data.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return path


def nan_output_model(dest: Path) -> Path:
    """``x`` (batch,4) -> ``y = sqrt(-|x| - 1)``: a valid model whose output is NaN for
    every input. Exercises the non-finite-output checks."""
    one = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")
    graph = helper.make_graph(
        [
            helper.make_node("Abs", ["x"], ["magnitude"]),
            helper.make_node("Neg", ["magnitude"], ["negated"]),
            helper.make_node("Sub", ["negated", "one"], ["below_minus_one"]),
            helper.make_node("Sqrt", ["below_minus_one"], ["y"]),
        ],
        "nan_output",
        [_float("x", ["batch", 4])],
        [_float("y", ["batch", 4])],
        initializer=[one],
    )
    return _save(_model(graph), dest, "nan_output.onnx")


def unsupported_op_model(dest: Path) -> Path:
    """``x`` (batch,4) -> ``com.example::MysteryOp`` -> ``y`` (batch,4).

    The ``com.example`` opset is declared, so ``onnx.checker.check_model`` passes, with
    ``full_check=True`` too (the checker and strict shape inference skip ops of domains
    they have no schemas for). onnxruntime has no kernel for it: creating an
    ``InferenceSession`` fails. Exercises a model that loads but cannot be run.
    """
    graph = helper.make_graph(
        [helper.make_node("MysteryOp", ["x"], ["y"], domain="com.example")],
        "unsupported_op",
        [_float("x", ["batch", 4])],
        [_float("y", ["batch", 4])],
    )
    return _save(_model(graph, ("com.example", 1)), dest, "unsupported_op.onnx")


# ------------------------------------------------------------------- broken files


def text_file_as_onnx(dest: Path) -> Path:
    """A plain text file named ``model.onnx``; ``onnx.load`` raises ``DecodeError`` on it."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "model.onnx"
    path.write_text("this is not an onnx model, just some text\n", encoding="utf-8")
    return path


def truncated_onnx(dest: Path, source: Path) -> Path:
    """The first half of ``source``'s bytes, as ``truncated.onnx``; ``onnx.load`` raises
    ``DecodeError`` on it (for the models here the cut falls inside a field)."""
    dest.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    path = dest / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    return path


def checker_failing_model(dest: Path) -> Path:
    """A Relu that reads ``ghost``, a name nothing defines, saved without checking.

    It loads, but ``onnx.checker.check_model`` raises ``ValidationError``: "Nodes in a graph
    must be topologically sorted, however input 'ghost' of node ... is not output of any
    previous nodes."
    """
    graph = helper.make_graph(
        [helper.make_node("Relu", ["ghost"], ["y"], name="relu_of_ghost")],
        "checker_failing",
        [_float("x", ["batch", 4])],
        [_float("y", ["batch", 4])],
    )
    return _save(_model(graph), dest, "checker_failing.onnx")


def external_data_escaping(dest: Path, location: str) -> Path:
    """Like ``external_data_model``, but W's external-data ``location`` is ``location``
    verbatim (e.g. ``"../outside.bin"`` or an absolute path), and the 64x64 float32 data is
    really written there (resolved against ``dest`` when relative), so the data exists and
    the only fault is that it lies outside the model's folder. ``onnx.checker`` and
    ``onnx.load`` (with external data) reject such locations."""
    dest.mkdir(parents=True, exist_ok=True)
    raw = _weights((64, 64)).tobytes()
    data_path = dest / location  # an absolute ``location`` replaces ``dest``
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_bytes(raw)

    weight = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[64, 64])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        weight.external_data.add(key=key, value=value)
    return _save(_model(_matmul_graph("external_data_escaping", weight)), dest, "escaping.onnx")
