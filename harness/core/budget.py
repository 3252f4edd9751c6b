"""One shape for every stage's ``--budget`` table: a row per budget name.

Each stage package holds one ``BUDGETS: BudgetTable[<Stage>Budget]`` in its ``budget.py``.
A table has exactly the fields ``quick``, ``standard`` and ``thorough`` (the names of
``harness.core.config.BUDGETS``), so a stage cannot forget a budget, or grow one the CLI
does not offer, without its table failing to build.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from harness.core.config import BUDGETS
from harness.core.errors import UsageError

__all__ = ["BudgetTable"]

Row = TypeVar("Row")


@dataclass(frozen=True)
class BudgetTable(Generic[Row]):
    """What one stage may spend under each ``--budget``; ``table[name]`` reads a row."""

    quick: Row
    standard: Row
    thorough: Row

    def __getitem__(self, name: str) -> Row:
        # Config validation normally stops an unknown name first; a caller that takes the
        # name from elsewhere (gate --ab) gets the same one-line usage error.
        if name not in BUDGETS:
            raise UsageError(f"budget {name!r} is not one of {', '.join(BUDGETS)}")
        row: Row = getattr(self, name)
        return row

    def __iter__(self) -> Iterator[str]:
        """The budget names, quick to thorough (without it, ``in`` and ``list`` would
        probe ``__getitem__`` with 0, 1, ...)."""
        return iter(field.name for field in fields(self))

    def __contains__(self, name: object) -> bool:
        return name in BUDGETS
