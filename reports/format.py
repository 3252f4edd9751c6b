"""The one number formatter of the report pages, and small pure formatters registered as
Jinja filters by ``render``; the findings and the compare page use the same functions.

Each takes a value straight from ``AuditResult`` and returns display text; ``None``
(a value the audit could not measure or the model does not declare) becomes ``—``.

Numbers follow one style everywhere: ``number`` gives 4 significant digits in plain
notation with thousands separators (``19,280``, ``0.5034``; an exponent only outside
1e-4 to 1e15); ``quantity`` picks the style from the unit (SI prefixes for FLOPs and
FLOP/s, thousands separators for counts and rates, binary prefixes for bytes);
``count`` says "1 layer", "2 layers"; ``comparison`` writes a value beside its threshold
with enough digits that the two never read as equal ("0.503 > 0.5", never "0.50 > 0.5").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
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
    "comparison",
    "config_rows",
    "count",
    "estimate",
    "human_bytes",
    "number",
    "or_dash",
    "percent",
    "plain",
    "quantity",
    "rank_shade",
    "ratio",
    "shape",
    "si",
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


DIGITS = 4  # significant digits of every measured number on the page
_PLAIN_MIN, _PLAIN_MAX = 1e-4, 1e15  # outside: an exponent, never a row of zeros
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return None


def number(x: float | None, digits: int = DIGITS) -> str:
    """``x`` to ``digits`` significant digits, plain, with thousands separators:
    19283.7 -> ``19,280``, 0.50341 -> ``0.5034``, 3.0 -> ``3``, 1.2e-6 -> ``1.2×10⁻⁶``
    (trailing zeros dropped, as ``%g`` does).
    Integers below 10**digits print exactly (``42``)."""
    if x is None:
        return MISSING
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) < 10**digits:
        return f"{x:,}"
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    if x == 0:
        return "0"
    exponent = math.floor(math.log10(abs(x)))
    rounded = float(f"{x:.{digits - 1}e}")  # rounding may carry: 9.9996 -> 10.00
    exponent = math.floor(math.log10(abs(rounded)))
    if not _PLAIN_MIN <= abs(rounded) < _PLAIN_MAX:
        mantissa = rounded / 10**exponent
        return f"{_trim(f'{mantissa:.{digits - 1}f}')}×10{str(exponent).translate(_SUPERSCRIPT)}"
    decimals = max(0, digits - 1 - exponent)
    return _trim(f"{rounded:,.{decimals}f}")


def _trim(text: str) -> str:
    """Trailing zeros after the point dropped, as ``%g`` does: ``2.000`` -> ``2``."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def sig4(x: float | None) -> str:
    """A float to 4 significant digits (``number``): 3.14159 -> ``3.142``."""
    return number(x)


_SI_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(x: float | None, unit: str, digits: int = DIGITS) -> str:
    """``x`` with an SI prefix on ``unit``: 8595466 FLOPs -> ``8.595 MFLOPs``."""
    if x is None:
        return MISSING
    for scale, prefix in _SI_PREFIXES:
        # The prefix whose rounded value stays under 1000 of it (999.96 k -> 1.000 M).
        if abs(float(f"{x:.{digits - 1}e}")) >= scale:
            return f"{number(x / scale, digits)} {prefix}{unit}"
    return f"{number(x, digits)} {unit}".rstrip()


# Units whose numbers read best with an SI prefix; every other unit gets separators.
_SI_UNITS = frozenset({"FLOPs", "FLOP/s", "FLOP", "MACs", "B/s", "Hz"})


def quantity(x: float | None, unit: str, digits: int = DIGITS) -> str:
    """A measured value with its unit, styled for the unit: SI prefixes for FLOPs and
    FLOP/s, binary prefixes for ``B`` (bytes), else thousands separators
    (``19,280 samples/s``, ``1.234 ms``)."""
    if x is None:
        return MISSING
    if unit == "B":
        return human_bytes(int(x))
    if unit in _SI_UNITS:
        return si(x, unit, digits)
    return f"{number(x, digits)} {unit}"


def count(n: int | None, singular: str, plural: str | None = None) -> str:
    """``1 layer``, ``2 layers``, ``1,024 samples``; ``plural`` for irregular words."""
    if n is None:
        return f"{MISSING} {plural or singular + 's'}"
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


_RELATIONS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "≥": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "≤": lambda a, b: a <= b,
}


def comparison(value: float, relation: str, threshold: float, digits: int = 3) -> str:
    """``value relation threshold`` with the value given just enough significant digits
    (from ``digits``, up to 8) that the printed number still stands in ``relation`` to the
    threshold: 0.50001 > 0.5 -> ``0.50001 > 0.5``, never ``0.500 > 0.5``. The threshold, a
    setting, prints as written (shortest form)."""
    holds = _RELATIONS[relation]
    text = number(value, digits)
    for shown in range(digits, 9):
        text = number(value, shown)
        printed = _parse(text)
        if printed is None or (
            printed != threshold and holds(printed, threshold) == holds(value, threshold)
        ):
            break
    return f"{text} {relation} {threshold:g}"


def _parse(text: str) -> float | None:
    """The value a ``number`` text reads as (None for ``NaN``, ``∞`` and exponents)."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


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


def percent(fraction: float | None, decimals: int = 1) -> str:
    """0.1234 -> ``12.3%`` (``12%`` with ``decimals=0``)."""
    if fraction is None:
        return MISSING
    return f"{fraction:.{decimals}%}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    """How many times ``denominator`` the ``numerator`` is: ``3.1×``; ``—`` for 0 or None."""
    if numerator is None or not denominator:
        return MISSING
    return f"{number(numerator / denominator, 3)}×"


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
    # At most 0.6 opaque: dark text on the strongest red or blue keeps a contrast of
    # 4.5:1 (WCAG AA), so the token or number in the cell stays readable.
    alpha = min(1.0, abs(value) / scale) * 0.6
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
