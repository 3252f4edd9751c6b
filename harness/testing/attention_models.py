"""Models with attention (and one without) that the attention tests capture.

Torch modules are seeded; ONNX files are written where the caller says. Exports run at
``BATCH`` x ``SEQUENCE`` and the models are fed that shape (the TorchScript exporter bakes
``nn.MultiheadAttention``'s reshapes into the graph).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

__all__ = [
    "BATCH",
    "HEADS",
    "LAYERS",
    "SEQUENCE",
    "VOCAB",
    "BertClassifier",
    "EncoderClassifier",
    "FlatAttention",
    "MaskIgnoringClassifier",
    "bert_classifier",
    "encoder_classifier",
    "export",
    "fused_attention_model",
    "mask_ignoring_classifier",
    "token_inputs",
]

BATCH, SEQUENCE, VOCAB, LAYERS, HEADS = 2, 10, 50, 2, 4


def token_inputs(padded: bool = False) -> dict[str, np.ndarray]:
    """``ids`` (BATCH, SEQUENCE) and, when ``padded``, an ``attention_mask`` with the second
    sample's last three tokens padding."""
    ids = np.random.default_rng(0).integers(1, VOCAB, size=(BATCH, SEQUENCE)).astype(np.int64)
    if not padded:
        return {"ids": ids}
    mask = np.ones((BATCH, SEQUENCE), dtype=np.int64)
    mask[1, -3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


class EncoderClassifier(nn.Module):
    """``nn.TransformerEncoder`` (d_model 32, 4 heads, 2 layers) with a mean-pooled head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(VOCAB, 32)
        layer = nn.TransformerEncoderLayer(32, HEADS, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.head = nn.Linear(32, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embedding(ids)).mean(dim=1))


def encoder_classifier() -> EncoderClassifier:
    """Factory for ``harness.testing.attention_models:encoder_classifier``."""
    return EncoderClassifier().eval()


class MaskIgnoringClassifier(EncoderClassifier):
    """Takes an attention mask and never applies it: its padding gets attention."""

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(ids)


def mask_ignoring_classifier() -> MaskIgnoringClassifier:
    return MaskIgnoringClassifier().eval()


class BertClassifier(nn.Module):
    """A Hugging Face BERT (hidden 32, 2 layers, 2 heads, eager attention, random weights)
    returning its logits."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertForSequenceClassification

        torch.manual_seed(0)
        # num_labels and attn_implementation reach PretrainedConfig through **kwargs, which
        # the typed BertConfig signature does not list
        config = BertConfig(  # type: ignore[call-arg]
            vocab_size=VOCAB,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            num_labels=3,
            attn_implementation="eager",
        )
        self.bert = BertForSequenceClassification(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).logits


def bert_classifier() -> BertClassifier:
    return BertClassifier().eval()


class FlatAttention(nn.Module):
    """One attention layer computed on (batch*heads, query, key), as older exports lay it
    out, with a masked softmax written out (``torch.softmax`` on ``bmm`` scores)."""

    def __init__(self, heads: int = 2, d_model: int = 16) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.heads, self.d_k = heads, d_model // heads
        self.embedding = nn.Embedding(VOCAB, d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.head = nn.Linear(d_model, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids)
        b, s, _ = x.shape
        q, k, v = (
            t.reshape(b, s, self.heads, self.d_k).transpose(1, 2).reshape(b * self.heads, s, -1)
            for t in self.qkv(x).chunk(3, dim=-1)
        )
        weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(self.d_k), dim=-1)
        context = torch.bmm(weights, v).reshape(b, self.heads, s, self.d_k).transpose(1, 2)
        return self.head(context.reshape(b, s, -1).mean(dim=1))


def export(module: nn.Module, args: dict[str, np.ndarray], path: Path, dynamo: bool) -> Path:
    """``module`` to ONNX at the shapes of ``args`` (inputs named as its keys, output
    ``logits``), with the TorchScript (``dynamo=False``, opset 17) or dynamo exporter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = tuple(torch.from_numpy(a) for a in args.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = {"opset_version": 17} if not dynamo else {"verbose": False}
        torch.onnx.export(
            module.eval(),
            tensors,
            str(path),
            dynamo=dynamo,
            input_names=list(args),
            output_names=["logits"],
            **options,
        )
    return path


def fused_attention_model(path: Path, kind: str) -> Path:
    """A one-node attention model: ``com.microsoft`` Attention (runs on onnxruntime's CPU
    provider) or the opset-23 ``Attention`` op. ``x`` (1, 4, 8) -> ``y``."""
    rng = np.random.default_rng(0)
    hidden = 8
    if kind == "com.microsoft":
        weight = numpy_helper.from_array(
            rng.normal(size=(hidden, 3 * hidden)).astype(np.float32), "w"
        )
        bias = numpy_helper.from_array(np.zeros(3 * hidden, dtype=np.float32), "b")
        node = helper.make_node(
            "Attention", ["x", "w", "b"], ["y"], domain="com.microsoft", num_heads=2
        )
        initializers, opsets = [weight, bias], [("", 17), ("com.microsoft", 1)]
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, hidden])]
    else:
        node = helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=2, kv_num_heads=2)
        initializers, opsets = [], [("", 23)]
        inputs = [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4, hidden])
            for name in ("q", "k", "v")
        ]
    graph = helper.make_graph(
        [node],
        "fused_attention",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, hidden])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets],
        ir_version=10 if kind != "com.microsoft" else 8,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
