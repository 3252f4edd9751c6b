"""The audit's one verdict: ``pass``, ``pass with warnings``, ``fail`` or ``incomplete``.

The findings' rules live in ``harness.reports.findings`` (they read the whole result);
the pipeline runs them once and stores their verdict in the result, so that the report,
the exit code, ``compare`` and a user's script read the same answer. This module holds the
value and the pure decisions on it (its one line, whether ``--fail-on`` makes it exit 1),
so that every layer can read a verdict without the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "FAIL_ON",
    "VERDICT_STATUSES",
    "DecidingFinding",
    "FailOn",
    "Verdict",
    "fails_under",
    "verdict_line",
]

VerdictStatus = Literal["pass", "pass with warnings", "fail", "incomplete"]
VERDICT_STATUSES: tuple[VerdictStatus, ...] = ("pass", "pass with warnings", "fail", "incomplete")

FailOn = Literal["fail", "warn", "never"]
FAIL_ON: tuple[FailOn, ...] = ("fail", "warn", "never")

# The verdicts that make the exit code 1 under each --fail-on. "incomplete" fails under
# "fail": an audit that could not finish cannot say the model may ship.
_FAILING: dict[str, tuple[VerdictStatus, ...]] = {
    "fail": ("fail", "incomplete"),
    "warn": ("fail", "incomplete", "pass with warnings"),
    "never": (),
}


@dataclass(frozen=True)
class DecidingFinding:
    """A finding that decided the verdict, by its rule id and one-line title."""

    severity: Literal["fail", "warn", "info"]
    rule: str
    title: str


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    counts: dict[str, int] = field(default_factory=dict)  # severity -> findings of it
    deciding: tuple[DecidingFinding, ...] = ()  # worst first; empty for "pass"


def verdict_line(verdict: Verdict) -> str:
    """``verdict: pass with warnings (0 fail, 3 warn): <first deciding finding>``, the line a
    reviewer (and a CI log) acts on."""
    counts = f"{verdict.counts.get('fail', 0)} fail, {verdict.counts.get('warn', 0)} warn"
    line = f"verdict: {verdict.status} ({counts})"
    if verdict.deciding:
        more = len(verdict.deciding) - 1
        line += f": {verdict.deciding[0].title}" + (f" (+{more} more)" if more else "")
    return line


def fails_under(verdict: Verdict | None, fail_on: FailOn) -> bool:
    """Whether VERDICT makes the audit exit 1 under ``--fail-on FAIL_ON``."""
    return verdict is not None and verdict.status in _FAILING[fail_on]
