"""The min, max and mean the result records for every tensor fed to or returned by a model."""

from __future__ import annotations

import numpy as np

__all__ = ["value_range"]


def value_range(array: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(min, max, mean) as floats; all None for an empty or non-numeric array."""
    if not array.size or array.dtype.kind not in "biuf":
        return None, None, None
    values = array.astype(np.float64)
    return float(values.min()), float(values.max()), float(values.mean())
