"""What two audits with one seed must share: the explanations section without its
wall-clock fields, as one canonical JSON text (tests and benchmarks compare it byte for
byte)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["TIMING_FIELDS", "comparable_explanations"]

# Every wall-clock field of the explanations section, left out by name: the section's
# ``timing`` (setup and each method's attribution) and each method's ``seconds``.
TIMING_FIELDS = ("timing", "seconds")


def comparable_explanations(section: dict[str, Any]) -> str:
    """SECTION (result.json's ``explanations``, parsed) without wall-clock fields, as
    canonical JSON: equal texts mean equal attributions, metrics, verdicts and plan."""
    return json.dumps(_without_timing(section), sort_keys=True, allow_nan=False)


def _without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value
