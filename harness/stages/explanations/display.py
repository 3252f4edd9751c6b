"""Attributions and inputs of the first few samples, reduced for the report.

Images: channels summed (attributions) or averaged (inputs), then area-averaged down to at
most ``MAX_SIDE`` pixels a side, keeping the aspect ratio. Token ids: one value per token.
Vectors: flattened, averaged down to at most ``MAX_VALUES`` values. Values keep four
significant digits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from harness.core.explanations import SampleAttribution, SampleInput

__all__ = ["MAX_SIDE", "MAX_VALUES", "shown_attributions", "shown_inputs"]

MAX_SIDE = 64
MAX_VALUES = 4096


def shown_attributions(
    attributions: torch.Tensor, targets: list[int], modality: str, count: int
) -> tuple[SampleAttribution, ...]:
    shown = []
    for i in range(min(count, attributions.shape[0])):
        one = attributions[i].detach().cpu().double()
        values, shape = _reduce(one.sum(0) if modality == "image" else one, modality)
        shown.append(
            SampleAttribution(
                sample_index=i,
                target=targets[i],
                shape=shape,
                values=values,
                original_shape=tuple(int(d) for d in one.shape),
            )
        )
    return tuple(shown)


def shown_inputs(
    x: torch.Tensor,
    labels: np.ndarray | None,
    truth: np.ndarray | None,
    modality: str,
    count: int,
) -> tuple[SampleInput, ...]:
    shown = []
    for i in range(min(count, x.shape[0])):
        one = x[i].detach().cpu().double()
        values, shape = _reduce(one.mean(0) if modality == "image" else one, modality)
        relevance: tuple[float, ...] = ()
        if truth is not None:
            mask = torch.as_tensor(np.asarray(truth[i]), dtype=torch.float64)
            if modality == "image" and mask.dim() == 3:
                mask = mask.amax(0)
            relevance, _ = _reduce(mask, modality)
        shown.append(
            SampleInput(
                sample_index=i,
                shape=shape,
                values=values,
                original_shape=tuple(int(d) for d in one.shape),
                label=int(labels[i]) if labels is not None else None,
                truth=relevance,
            )
        )
    return tuple(shown)


def _reduce(values: torch.Tensor, modality: str) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """(row-major values, shape) after downsampling."""
    if modality == "image" and values.dim() == 2:
        height, width = values.shape
        scale = min(1.0, MAX_SIDE / max(height, width))
        size = (max(1, math.ceil(height * scale)), max(1, math.ceil(width * scale)))
        if size != (height, width):
            values = F.adaptive_avg_pool2d(values[None, None], size)[0, 0]
    elif modality != "tokens":
        values = values.reshape(-1)
        if values.numel() > MAX_VALUES:
            values = F.adaptive_avg_pool1d(values[None, None], MAX_VALUES)[0, 0]
    flat = values.reshape(-1).tolist()
    # Four significant digits: plenty for a heatmap, and a quarter of the JSON.
    return tuple(float(f"{v:.4g}") for v in flat), tuple(int(d) for d in values.shape)
