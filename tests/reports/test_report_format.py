"""The page's one number formatter (reports/format.py), against hand-written expectations."""

from __future__ import annotations

import pytest

from harness.reports.format import comparison, count, number, quantity, si


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (19283.7, "19,280"),  # thousands separators, 4 significant digits, no exponent
        (5994.2, "5,994"),
        (0.50341, "0.5034"),
        (3.0, "3"),  # trailing zeros dropped
        (9.99996, "10"),  # rounding carries into the next decade
        (42, "42"),  # a small integer exactly
        (123456, "123,500"),  # a large one to 4 significant digits
        (-0.001234, "-0.001234"),
        (1.2e-6, "1.2×10⁻⁶"),  # outside 1e-4..1e15: an exponent, not a row of zeros
        (2.5e17, "2.5×10¹⁷"),
        (None, "—"),
    ],
)
def test_number(x: float | None, text: str) -> None:
    assert number(x) == text


def test_number_with_fewer_digits() -> None:
    assert number(0.123456, 2) == "0.12"
    assert number(1720.3, 3) == "1,720"


@pytest.mark.parametrize(
    ("x", "unit", "text"),
    [
        (8_595_466, "FLOPs", "8.595 MFLOPs"),  # SI prefixes for work
        (999_960, "FLOPs", "1 MFLOPs"),  # 999.96 k rounds up to the next prefix
        (3.2e9, "FLOP/s", "3.2 GFLOP/s"),
        (512, "FLOPs", "512 FLOPs"),
        (19_283.7, "samples/s", "19,280 samples/s"),  # separators for rates
        (0.06297, "ms", "0.06297 ms"),
        (1536, "B", "1.5 KiB"),  # binary prefixes for bytes
        (None, "ms", "—"),
    ],
)
def test_quantity_style_follows_the_unit(x: float | None, unit: str, text: str) -> None:
    assert quantity(x, unit) == text


def test_si_without_a_prefix_below_a_thousand() -> None:
    assert si(12.5, "Hz") == "12.5 Hz"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 layers"), (1, "1 layer"), (2, "2 layers"), (1024, "1,024 layers")],
)
def test_count_pluralises(n: int, text: str) -> None:
    assert count(n, "layer") == text


def test_count_with_an_irregular_plural() -> None:
    assert count(1, "index", "indices") == "1 index"
    assert count(3, "index", "indices") == "3 indices"


@pytest.mark.parametrize(
    ("value", "relation", "threshold", "text"),
    [
        (0.5034, ">", 0.5, "0.503 > 0.5"),  # the "0.50 > 0.5"
        (0.50001, ">", 0.5, "0.50001 > 0.5"),  # as many digits as it takes
        (0.4996, "<", 0.5, "0.4996 < 0.5"),  # "0.500 < 0.5" would contradict itself
        (0.9, ">", 0.5, "0.9 > 0.5"),
        (28.46, ">", 3, "28.5 > 3"),
        (0.05, "≤", 0.1, "0.05 ≤ 0.1"),
    ],
)
def test_comparison_never_contradicts_its_threshold(
    value: float, relation: str, threshold: float, text: str
) -> None:
    assert comparison(value, relation, threshold) == text
