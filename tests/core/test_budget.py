"""The one budget-table shape every stage uses."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.budget import BudgetTable
from harness.core.config import BUDGETS
from harness.core.errors import UsageError


def test_a_table_has_one_row_per_budget_the_cli_offers() -> None:
    names = tuple(field.name for field in dataclasses.fields(BudgetTable))
    assert names == BUDGETS


def test_rows_are_read_by_budget_name() -> None:
    table = BudgetTable(quick=1, standard=2, thorough=3)
    assert [table[name] for name in BUDGETS] == [1, 2, 3]
    assert list(table) == list(BUDGETS)
    assert "standard" in table and "forever" not in table


def test_an_unknown_budget_is_a_usage_error_naming_the_known_ones() -> None:
    table = BudgetTable(quick=1, standard=2, thorough=3)
    with pytest.raises(
        UsageError, match="budget 'forever' is not one of quick, standard, thorough"
    ):
        table["forever"]


def test_a_table_is_frozen() -> None:
    table = BudgetTable(quick=1, standard=2, thorough=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.quick = 5  # type: ignore[misc]
