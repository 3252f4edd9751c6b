"""Agreement between methods: do two explanations rank the features alike?

For each pair of methods and each sample, the Spearman rank correlation of their feature
attributions, and the top-k overlap: the fraction of one method's k most attributed
features that are also among the other's (k = ``top_k_fraction`` of the features, at
least 1). Magnitudes are compared (``absolute``, default), since methods disagree on sign
conventions more than on importance. Both matrices hold means over the samples where the
value is defined; the diagonal is 1. Attributions of all methods must share one shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import UsageError
from harness.explainers.metrics._features import GroupReduce, features
from harness.explainers.metrics.base import ParameterValue
from harness.explainers.metrics.stats import spearman, top_k_overlap

__all__ = ["Agreement", "agreement"]

Matrix = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Agreement:
    """Symmetric method-by-method matrices, rows and columns in ``names`` order."""

    names: tuple[str, ...]
    spearman: Matrix
    top_k_overlap: Matrix
    parameters: dict[str, ParameterValue]

    def pair(self, a: str, b: str) -> tuple[float, float]:
        """(Spearman, top-k overlap) of methods ``a`` and ``b``."""
        i, j = self.names.index(a), self.names.index(b)
        return self.spearman[i][j], self.top_k_overlap[i][j]


def agreement(
    attributions: Mapping[str, Any],
    *,
    top_k_fraction: float = 0.1,
    absolute: bool = True,
    feature_mask: Any = None,
    group_reduce: GroupReduce = "sum",
) -> Agreement:
    """Agreement matrices between the methods in ``attributions`` (name -> attributions)."""
    if not 0.0 < top_k_fraction <= 1.0:
        raise UsageError(f"top_k_fraction must be in (0, 1], got {top_k_fraction}")
    names = tuple(attributions)
    shapes = {name: tuple(np.shape(_host(a))) for name, a in attributions.items()}
    if len(set(shapes.values())) > 1:
        raise UsageError(
            f"methods' attributions differ in shape: {shapes}; bring them to one shape "
            "(e.g. sum over channels, or upsample) before comparing"
        )
    rows = [features(attributions[n], None, feature_mask, group_reduce) for n in names]
    per_method = [[np.abs(a) if absolute else a for a in f.attributions] for f in rows]
    rho = _matrix(per_method, spearman)
    overlap = _matrix(
        per_method,
        lambda a, b: top_k_overlap(a, b, max(1, round(top_k_fraction * a.size))),
    )
    return Agreement(
        names=names,
        spearman=rho,
        top_k_overlap=overlap,
        parameters={"top_k_fraction": top_k_fraction, "absolute": int(absolute)},
    )


def _matrix(per_method: list[list[np.ndarray]], statistic: Any) -> Matrix:
    n = len(per_method)
    out = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            values = [statistic(a, b) for a, b in zip(per_method[i], per_method[j], strict=True)]
            finite = [v for v in values if math.isfinite(v)]
            out[i][j] = out[j][i] = math.fsum(finite) / len(finite) if finite else math.nan
    return tuple(tuple(row) for row in out)


def _host(values: Any) -> Any:
    return values.detach().cpu() if hasattr(values, "detach") else values
