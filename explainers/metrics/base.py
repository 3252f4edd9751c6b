"""What every explanation metric returns: one frozen ``MetricResult``.

A metric scores a batch of attributions sample by sample; ``value`` is the mean over the
samples where the metric is defined. A sample where it is not (a correlation of constant
attributions, an AUROC on a sample with no relevant feature) holds ``nan`` in
``per_sample``, so positions still line up with the samples; ``to_dict`` writes those as
``None`` for JSON, which allows no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MetricResult", "ParameterValue", "metric_result"]

ParameterValue = str | int | float


@dataclass(frozen=True)
class MetricResult:
    """One metric over a batch: the mean, the per-sample values, its direction, every
    parameter it ran with, and (for curve metrics) the mean curve as (x, y) points."""

    name: str
    value: float
    per_sample: tuple[float, ...]
    higher_is_better: bool
    parameters: dict[str, ParameterValue]
    curve: tuple[tuple[float, float], ...] | None = None

    @property
    def n_defined(self) -> int:
        """How many samples the metric is defined for (their mean is ``value``)."""
        return sum(math.isfinite(v) for v in self.per_sample)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; undefined (NaN) values become ``None``."""
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "per_sample": [_json_float(v) for v in self.per_sample],
            "higher_is_better": self.higher_is_better,
            "parameters": dict(self.parameters),
            "curve": None
            if self.curve is None
            else [[_json_float(x), _json_float(y)] for x, y in self.curve],
        }


def metric_result(
    name: str,
    per_sample: Iterable[float],
    *,
    higher_is_better: bool,
    parameters: dict[str, ParameterValue],
    curve: Sequence[tuple[float, float]] | None = None,
) -> MetricResult:
    """Build a ``MetricResult`` whose value is the mean of the finite per-sample values
    (``nan`` when there are none)."""
    values = tuple(float(v) for v in per_sample)
    finite = [v for v in values if math.isfinite(v)]
    value = math.fsum(finite) / len(finite) if finite else math.nan
    return MetricResult(
        name=name,
        value=value,
        per_sample=values,
        higher_is_better=higher_is_better,
        parameters=dict(parameters),
        curve=None if curve is None else tuple((float(x), float(y)) for x, y in curve),
    )


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None
