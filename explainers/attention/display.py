"""Long sequences: the whole sequence is captured and analysed; a report shows at most
``DISPLAY_TOKENS`` tokens of at most ``DISPLAY_SAMPLES`` samples, and fewer tokens when the
model has so many heads that one sample's maps would exceed ``DISPLAY_MAX_VALUES`` numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.core.attention import (
    DISPLAY_MAX_VALUES,
    DISPLAY_TOKENS,
    MAP_DECIMALS,
    DisplayMaps,
    LayerMaps,
)

__all__ = ["display_maps", "shown_tokens", "token_labels"]


def shown_tokens(real_tokens: int, total_heads: int, limit: int = DISPLAY_TOKENS) -> int:
    """How many of a sample's ``real_tokens`` are shown: at most ``limit``, and at most as
    many as keep ``total_heads`` maps of shown x shown within ``DISPLAY_MAX_VALUES``."""
    by_values = math.isqrt(DISPLAY_MAX_VALUES // max(total_heads, 1))
    return max(1, min(real_tokens, limit, by_values))


def token_labels(ids: np.ndarray | None, length: int) -> tuple[str, ...]:
    """ "position:id" per position (unique, so a heatmap axis keeps every one); positions
    alone when there are no token ids."""
    if ids is None:
        return tuple(str(i) for i in range(length))
    return tuple(f"{i}:{int(v)}" for i, v in enumerate(ids[:length]))


def display_maps(
    sample: int,
    layers: Sequence[np.ndarray | None],
    real_tokens: int,
    labels: Sequence[str],
    truth: np.ndarray | None,
    rollout: np.ndarray | None,
    limit: int = DISPLAY_TOKENS,
) -> DisplayMaps:
    """One sample's maps cut to the shown tokens; ``layers[l]`` is (heads, q, k) or None
    for a layer whose map could not be laid out per head (shown with no heads)."""
    total_heads = sum(m.shape[0] for m in layers if m is not None)
    n = shown_tokens(real_tokens, total_heads, limit)
    maps: LayerMaps = tuple(
        tuple(_rows(head[:n, :n]) for head in layer) if layer is not None else ()
        for layer in layers
    )
    return DisplayMaps(
        sample=sample,
        tokens=tuple(labels[:n]),
        total_tokens=real_tokens,
        truncated=n < real_tokens,
        truth=tuple(bool(t) for t in truth[:n]) if truth is not None else None,
        rollout=tuple(round(float(v), MAP_DECIMALS) for v in rollout[:n])
        if rollout is not None
        else None,
        maps=maps,
    )


def _rows(matrix: np.ndarray) -> tuple[tuple[float, ...], ...]:
    rounded = np.round(matrix.astype(np.float64), MAP_DECIMALS)
    return tuple(tuple(float(v) for v in row) for row in rounded)
