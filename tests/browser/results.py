"""Result JSON edits the browser tests share: a second, slower audit to compare against."""

from __future__ import annotations

from typing import Any

__all__ = ["scaled", "slower"]


def scaled(value: Any, factor: float) -> Any:
    if isinstance(value, dict):
        return {key: scaled(item, factor) for key, item in value.items()}
    if isinstance(value, list):
        return [scaled(item, factor) for item in value]
    # Times are floats; the counts beside them (min_samples) stay ints, untouched.
    return value * factor if isinstance(value, float) else value


def slower(result: dict[str, Any], factor: float) -> dict[str, Any]:
    """``result`` as if every timed call had taken ``factor`` times as long, so that the
    comparison has two different latency distributions to draw."""
    for run in result["efficiency"]["runs"]:
        latency = run["latency"]
        for key in [key for key in latency if key.endswith("_ms")]:
            latency[key] = scaled(latency[key], factor)
    return result
