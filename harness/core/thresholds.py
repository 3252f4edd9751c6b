"""Where the report's findings draw their lines; a config file's ``findings`` table moves them.

    [tool.harness.findings]          # or `findings = { ... }` in a --config file
    latency_cv_max = 0.3
    ground_truth_margin = 0.2

The thresholds an audit used are recorded in its result (``config.findings``), so a
re-rendered report judges the same way; ``harness report --config FILE`` may judge again
with other lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from harness.core.errors import UsageError

__all__ = ["FindingThresholds", "thresholds_from_table"]


@dataclass(frozen=True)
class FindingThresholds:
    latency_cv_max: float = 0.5  # std / mean of latency above this: a noisy measurement (warn)
    memory_to_weights_max: float = 3.0  # peak inference memory over weight bytes, above: info
    percent_of_peak_min: float = 5.0  # achieved % of the measured compute peak, below: info
    ground_truth_margin: float = 0.1  # AUROC a method must beat the random baseline's by
    # A membership attack whose AUC is significantly above 0.5 warns once it reaches
    # 0.5 + this (below: an info finding, a weak but detectable leak).
    privacy_auc_margin: float = 0.05


def thresholds_from_table(
    table: Any, where: str, base: FindingThresholds = FindingThresholds()
) -> FindingThresholds:
    """BASE with the numbers of a TOML ``findings`` table; unknown names and non-numbers err."""
    if not isinstance(table, dict):
        raise UsageError(f"{where} 'findings' must be a table of threshold = number")
    known = [field.name for field in fields(FindingThresholds)]
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UsageError(
            f"{where} unknown finding threshold(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    for name, value in table.items():
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(value) or value < 0:
            raise UsageError(
                f"{where} finding threshold {name} must be a non-negative number, got {value!r}"
            )
    return replace(base, **{name: float(value) for name, value in table.items()})
