"""The reference RNN: a GRU over token embeddings, max-pooled over the real time steps.

    input_ids (N,S), attention_mask (N,S)
      -> embedding -> GRU (batch_first, one direction) -> max over steps where mask is 1
      -> linear, ReLU, linear -> (N, n_classes) logits

Padded sequences run through the GRU as they are (no ``pack_padded_sequence``): with one
direction and right padding, a real step never sees a padded one, and the pooling ignores
padded steps, so padding cannot change the answer. The ONNX export is then a plain ``GRU``
node, which is deliberate: onnx2torch cannot convert it, so the harness's fallback path
(no gradient methods, with the reason) has a reference model that exercises it.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.tasks.trigger_tokens import N_CLASSES, PAD, VOCAB_SIZE

__all__ = ["TriggerGRU"]

# GRU outputs lie in (-1, 1); a padded step's value sits below all of them.
_PADDED_STEP = -2.0


class TriggerGRU(nn.Module):
    """(N,S) token ids and attention mask (1 real, 0 padding) -> (N, n_classes) logits."""

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        embedding_dim: int = 32,
        hidden_size: int = 64,
        n_classes: int = N_CLASSES,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.gru = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.classifier = nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, n_classes)
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        steps, _ = self.gru(self.embedding(input_ids))  # (N, S, hidden)
        padded = (attention_mask == 0).unsqueeze(-1)
        pooled = steps.masked_fill(padded, _PADDED_STEP).amax(dim=1)
        return self.classifier(pooled)
