"""The reference autoencoder: a small conv encoder to a 32-dim code and a conv decoder.

Audit target: the reconstruction error. An attribution of this model explains the scalar
``||x - Q(x)||^2`` (which pixels make an input hard to reconstruct), not one output pixel.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LATENT_DIM", "DigitsAutoencoder"]

LATENT_DIM = 32


class DigitsAutoencoder(nn.Module):
    """(N,1,28,28) pixels in [0,1] -> (N,1,28,28) reconstruction in [0,1] (sigmoid output)."""

    def __init__(self, latent_dim: int = LATENT_DIM) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),  # 28 -> 14
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),  # 14 -> 7
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 32 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 16, kernel_size=4, stride=2, padding=1),  # 7 -> 14
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, kernel_size=4, stride=2, padding=1),  # 14 -> 28
            nn.Sigmoid(),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(pixels))
