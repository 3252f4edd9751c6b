"""Feature masks for perturbation methods: which elements are switched off together.

On images, square superpixel blocks shared by all channels: a (1, 1, H, W) mask of
block ids, row-major, that broadcasts over batch and channels. Token ids and vectors
need none: Captum's default of one feature per element is one feature per token.
Occlusion's automatic window uses the same block side. Imports torch only when a mask is
built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["block_feature_mask", "default_block_size", "default_feature_mask"]


def default_block_size(height: int, width: int) -> int:
    """Blocks of side ceil(min(H, W) / 8): about 64 features (28 px blocks at 224 x 224)."""
    return max(1, math.ceil(min(height, width) / 8))


def block_feature_mask(
    shape: tuple[int, ...] | torch.Size, block: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A (1, 1, H, W) int64 mask of ``block`` x ``block`` superpixels for (N, C, H, W)."""
    import torch

    if len(shape) != 4:
        raise ValueError(f"block masks are for (N, C, H, W) images, got shape {tuple(shape)}")
    if block < 1:
        raise ValueError(f"block side must be >= 1 pixel, got {block}")
    height, width = int(shape[2]), int(shape[3])
    rows = torch.arange(height, device=device) // block
    columns = torch.arange(width, device=device) // block
    per_row = math.ceil(width / block)
    return (rows[:, None] * per_row + columns[None, :]).view(1, 1, height, width)


def default_feature_mask(modality: str, inputs: torch.Tensor) -> torch.Tensor | None:
    """Superpixel blocks of ``default_block_size`` on images; None elsewhere."""
    if modality != "image":
        return None
    return block_feature_mask(
        inputs.shape, default_block_size(*inputs.shape[2:]), device=inputs.device
    )
