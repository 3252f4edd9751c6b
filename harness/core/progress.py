"""How a stage says what it is doing and how far it is, without knowing who listens.

A stage receives a ``StageProgress`` in its ``AuditContext`` and calls:

- ``plan(total, unit, detail)`` once it knows its work: ``total`` steps of ``unit``
  (singular: "step", "backend run"; the listener writes the plural), ``detail`` the
  setting a reader wants to see (backend, batch size, sample count);
- ``advance(done, detail, eta_s=None)`` as it starts each step: ``done`` steps finished
  so far, ``detail`` the step now running, ``eta_s`` the seconds its own plan still
  allots (a bound: the budget's deadline), when it has one; without it the listener
  estimates the time left from the pace so far.

The command line's terminal (``harness.commands.terminal``) implements it: a live bar on a
terminal, one line per step in a log, nothing with ``--quiet``. Library callers and tests
get ``SILENT``. This module is the leaf layer's: stages import it, never the terminal.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SILENT", "SilentProgress", "StageProgress"]


class StageProgress(Protocol):
    def plan(self, total: int, unit: str, detail: str = "") -> None: ...

    def advance(self, done: int, detail: str, eta_s: float | None = None) -> None: ...


class SilentProgress:
    """Progress nobody reads: the default of every ``AuditContext``."""

    def plan(self, total: int, unit: str, detail: str = "") -> None:
        pass

    def advance(self, done: int, detail: str, eta_s: float | None = None) -> None:
        pass


SILENT = SilentProgress()
