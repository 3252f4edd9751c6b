"""Small pure formatters for the report, registered as Jinja filters by ``render``.

Each takes a value straight from ``AuditResult`` and returns display text; ``None``
(a value the audit could not measure or the model does not declare) becomes ``—``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.core.config import AuditConfig
from harness.core.efficiency import Estimate
from harness.core.model import Dim, shape_text

__all__ = [
    "MISSING",
    "arrow",
    "attribution_colour",
    "ci",
    "config_rows",
    "estimate",
    "human_bytes",
    "or_dash",
    "percent",
    "plain",
    "rank_shade",
    "ratio",
    "shape",
    "sig4",
    "thousands",
    "yes_no",
]

MISSING = "—"

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int | None) -> str:
    """1536 -> ``1.5 KiB``; under 1 KiB exact (``512 B``); binary units, one decimal."""
    if n is None:
        return MISSING
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _BINARY_UNITS:
        value /= 1024
        # Step up while the rounded value would read 1024.0 of this unit.
        if round(abs(value), 1) < 1024 or unit == _BINARY_UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def thousands(n: int | None) -> str:
    """1234567 -> ``1,234,567``."""
    if n is None:
        return MISSING
    return f"{n:,}"


def sig4(x: float | None) -> str:
    """A float to 4 significant digits: 3.14159 -> ``3.142``, 123456.0 -> ``1.235e+05``."""
    if x is None:
        return MISSING
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.4g}"


def estimate(e: Estimate) -> str:
    """A statistic's value to 4 significant digits, or ``insufficient (n < 662)``: a
    statistic the samples cannot bound is never shown as a number."""
    if e.insufficient:
        return f"insufficient (n < {e.min_samples:,})"
    return sig4(e.value)


def ci(e: Estimate) -> str:
    """A statistic's 95% confidence interval: ``[1.234, 1.301]``; ``—`` when it has none."""
    if e.insufficient or e.ci_low is None or e.ci_high is None:
        return MISSING
    return f"[{sig4(e.ci_low)}, {sig4(e.ci_high)}]"


def percent(fraction: float | None) -> str:
    """0.1234 -> ``12.3%``."""
    if fraction is None:
        return MISSING
    return f"{fraction:.1%}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    """How many times ``denominator`` the ``numerator`` is: ``3.1×``; ``—`` for 0 or None."""
    if numerator is None or not denominator:
        return MISSING
    return f"{numerator / denominator:.3g}×"


def or_dash(value: Any) -> Any:
    """``None`` or an empty string -> ``—``; anything else unchanged."""
    return MISSING if value is None or value == "" else value


def yes_no(flag: bool | None) -> str:
    if flag is None:
        return MISSING
    return "yes" if flag else "no"


def plain(value: Any) -> str:
    """Any config value as one line of text: paths, flags, lists and mappings."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, tuple | list):
        return ", ".join(plain(v) for v in value) or MISSING
    return str(value)


def arrow(higher_is_better: bool) -> str:
    """A metric's direction: ``↑`` when higher is better, ``↓`` when lower is."""
    return "↑" if higher_is_better else "↓"


def attribution_colour(value: float, scale: float) -> str:
    """A CSS background for an attribution on a diverging scale centred at 0: red for
    positive, blue for negative, opaque at ``|value| = scale``, clear at 0 (and when
    ``scale`` is 0)."""
    if not scale or not math.isfinite(value):
        return "rgba(0, 0, 0, 0)"
    alpha = min(1.0, abs(value) / scale) * 0.85
    rgb = "214, 39, 40" if value > 0 else "31, 119, 180"
    return f"rgba({rgb}, {alpha:.2f})"


def rank_shade(rank: int, count: int) -> str | None:
    """A CSS background for rank ``rank`` (1 = best) of ``count``: green for the best,
    through yellow, to red for the worst; None when there is nothing to rank against."""
    if count < 2:
        return None
    hue = round(130 * (1 - (rank - 1) / (count - 1)))
    return f"hsl({hue}, 70%, 88%)"


def shape(dims: tuple[Dim, ...]) -> str:
    """``batchx1x28x28``; see :func:`harness.core.model.shape_text`."""
    return shape_text(dims)


def config_rows(config: AuditConfig) -> list[tuple[str, str]]:
    """Every field of the resolved config as (name, text), in declaration order."""
    rows = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "shapes":
            text = ", ".join(f"{k}={shape_text(v)}" for k, v in value.items()) or MISSING
        elif field.name == "sources":
            text = " → ".join(value) or MISSING
        elif dataclasses.is_dataclass(value):  # the findings' thresholds
            text = ", ".join(
                f"{f.name}={plain(getattr(value, f.name))}" for f in dataclasses.fields(value)
            )
        else:
            text = plain(value)
        rows.append((field.name, text))
    return rows
