"""The reference CNN: two conv blocks and a two-layer head over 28x28 grey images."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DigitsCNN", "patch_cnn"]


class DigitsCNN(nn.Module):
    """(N,1,28,28) pixels in [0,1] -> (N,n_classes) logits."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14 -> 7
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(pixels))


def patch_cnn() -> DigitsCNN:
    """The same CNN with 4 outputs, for the planted-patch task (one logit per pattern)."""
    return DigitsCNN(n_classes=4)
