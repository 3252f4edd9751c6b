"""The reference Transformer: an encoder classifier with attention written out in full.

    input_ids (N,S), attention_mask (N,S)
      -> token embedding * sqrt(d_model) + sinusoidal positions
      -> layers x [multi-head self-attention, residual + LayerNorm,
                   feed-forward, residual + LayerNorm]
      -> mean over the real tokens -> linear -> (N, n_classes) logits

Attention is ``softmax(Q K^T / sqrt(d_k))`` with padded keys set to a large finite negative
before the softmax, and the softmax is its own module (``AttentionSoftmax``), once per
layer: a forward hook on it sees the attention map (batch, heads, query, key), and the ONNX
export holds exactly one ``Softmax`` node per layer (the head has none).

``zoo_transformer()`` is the small model trained on the trigger-token task;
``full_size_transformer()`` is the original design's size, for benchmarking only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.models.tasks.trigger_tokens import N_CLASSES, PAD, VOCAB_SIZE

__all__ = [
    "AttentionSoftmax",
    "EncoderLayer",
    "MultiHeadSelfAttention",
    "TransformerClassifier",
    "full_size_transformer",
    "sinusoidal_positions",
    "zoo_transformer",
]

# Score of a padded key: exp() of it underflows to exactly 0, and it stays finite in ONNX.
MASKED_SCORE = -1e9


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model): PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = position / torch.pow(10000.0, two_i / d_model)
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table.float()


class AttentionSoftmax(nn.Module):
    """Softmax over the key axis of (batch, heads, query, key) scores: the attention map."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores, dim=-1)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not a multiple of heads {heads}")
        self.heads = heads
        self.d_k = d_model // heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.softmax = AttentionSoftmax()

    def forward(self, x: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
        """``x`` (N,S,d_model); ``key_padding`` (N,S) bool, True at padded positions."""
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        scores = scores.masked_fill(key_padding[:, None, None, :], MASKED_SCORE)
        context = self.softmax(scores) @ v  # (N, heads, S, d_k)
        return self.out(context.transpose(1, 2).flatten(2))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(N,S,d_model) -> (N,heads,S,d_k)."""
        return x.unflatten(-1, (self.heads, self.d_k)).transpose(1, 2)


class EncoderLayer(nn.Module):
    """Self-attention and a feed-forward block, each followed by residual + LayerNorm."""

    def __init__(self, d_model: int, heads: int, ff_dim: int) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(d_model, heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, ff_dim), nn.ReLU(), nn.Linear(ff_dim, d_model)
        )
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention(x, key_padding))
        return self.norm2(x + self.feed_forward(x))


class TransformerClassifier(nn.Module):
    """(N,S) token ids and attention mask (1 real, 0 padding) -> (N, n_classes) logits.

    Sequences may be up to ``max_len`` tokens long. There is no dropout: training and
    inference compute the same function.
    """

    positions: torch.Tensor  # (max_len, d_model) sinusoidal table, a non-persistent buffer

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        heads: int,
        layers: int,
        ff_dim: int,
        max_len: int,
        n_classes: int,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        # Scaled by sqrt(d_model) in forward, so embeddings and positions start at one scale.
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.embedding.weight[PAD].zero_()
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, ff_dim) for _ in range(layers))
        self.classifier = nn.Linear(d_model, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embedding(input_ids) * math.sqrt(self.d_model)
        x = x + self.positions[: input_ids.shape[1]]
        key_padding = attention_mask == 0
        for layer in self.layers:
            x = layer(x, key_padding)
        real = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * real).sum(dim=1) / real.sum(dim=1).clamp(min=1.0)
        return self.classifier(pooled)


def zoo_transformer() -> TransformerClassifier:
    """The committed reference: small enough to train on two CPU cores in about a minute."""
    return TransformerClassifier(
        vocab_size=VOCAB_SIZE,
        d_model=64,
        heads=4,
        layers=2,
        ff_dim=128,
        max_len=64,
        n_classes=N_CLASSES,
    )


def full_size_transformer() -> TransformerClassifier:
    """The original design's size (about 25M parameters); untrained, for benchmarks only."""
    return TransformerClassifier(
        vocab_size=10_000,
        d_model=512,
        heads=8,
        layers=6,
        ff_dim=2048,
        max_len=512,
        n_classes=N_CLASSES,
    )
