"""Tiny PyTorch models (``package.module:factory``) for the explanations stage's tests."""

from __future__ import annotations

import torch
from torch import nn


class TinyMLP(nn.Module):
    """``features`` (batch, 8) float32 -> (batch, 3) logits: a vector classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def tiny_mlp() -> TinyMLP:
    torch.manual_seed(0)
    return TinyMLP().eval()


class TinyRegressor(nn.Module):
    """``features`` (batch, 8) -> (batch, 1): a single-output regressor."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def tiny_regressor() -> TinyRegressor:
    torch.manual_seed(1)
    return TinyRegressor().eval()
