"""Progress and warnings on stderr for the commands that take a while (audit, gate --ab).

Every text shown here may hold a user's or a model's string (a path, an input name): it is
printed as text, never as rich markup (a ``[/]`` in a file name is not a closing tag), and
with its control characters and bidirectional overrides written visibly, on one line.

Inside a stage, ``Terminal.stage_progress(name)`` is the stage's ``StageProgress``
(``harness.core.progress``): on a terminal a live rich bar (steps done of planned, the step
running, the time left); when stderr is not a terminal (a CI log) one plain line per step,
at most one per ``PLAIN_INTERVAL_S`` for the same stage unless the step changes; nothing
with ``--quiet``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.core.progress import SILENT, StageProgress
from harness.core.text import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["PLAIN_INTERVAL_S", "LiveProgress", "PlainProgress", "Terminal", "current_terminal"]

# A CI log gets at most one line per stage per this many seconds (a new step always prints).
PLAIN_INTERVAL_S = 5.0

_current: Terminal | None = None


class Terminal:
    """Progress and warnings on stderr, through rich when it is installed.

    The newest terminal is the one log records go through (``current_terminal``): a
    command builds its own once it has resolved its settings, and only then is it known
    whether a config file asked for ``quiet``.
    """

    def __init__(self, quiet: bool, live: bool | None = None) -> None:
        from rich.console import Console

        global _current
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        # A live bar only where someone watches: stderr a terminal (``live`` overrides).
        self.live = self.console.is_terminal if live is None else live
        self._stage: LiveProgress | None = None
        _current = self

    def progress(self, step: str, event: str, detail: str) -> None:
        if event == "done" and self._stage is not None:
            self._stage.close()
            self._stage = None
        if self.quiet:
            return
        ellipsis = " ..." if event == "start" else ""
        self.console.print(f"[bold]{_escape(step):>12}[/] {_escape(detail)}{ellipsis}")

    def stage_progress(self, stage: str) -> StageProgress:
        """Where stage STAGE reports its steps: a live bar, plain lines, or nowhere."""
        if self.quiet:
            return SILENT
        if self.live:
            self._stage = LiveProgress(stage, self.console)
            return self._stage
        return PlainProgress(stage, lambda line: self.console.print(line, markup=False))

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/] {_escape(message)}")

    def debug(self, text: str) -> None:
        """Debugging output (``--debug``): may span lines, still shown as plain text."""
        if not self.quiet:
            self.console.print(visible(text, keep_lines=True), markup=False)


def current_terminal() -> Terminal | None:
    """The terminal the running command prints through, or None before it has one."""
    return _current


def _escape(text: str) -> str:
    """TEXT shown as it is: one line, visible control characters, no markup."""
    from rich.markup import escape

    return escape(visible(text))


def _eta(started: float, done: int, total: int | None, planned_s: float | None, now: float) -> str:
    """The time left, in words: the bound the stage's own plan gives (``≤ 30 s left``),
    else an estimate from the pace so far (``~12 s left``), else ``time left unknown``."""
    if planned_s is not None:
        return f"≤ {_duration(max(0.0, planned_s))} left"
    if not total or done <= 0:
        return "time left unknown"
    return f"~{_duration((now - started) / done * (total - done))} left"


def _count(n: int, unit: str) -> str:
    """``1 step``, ``6 steps``: a plain English plural of a singular unit."""
    return f"{n} {unit if n == 1 else unit + 's'}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


class PlainProgress:
    """One line per step on a stream that is not a terminal; rate-limited per stage."""

    def __init__(
        self, stage: str, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stage, self._write, self._clock = stage, write, clock
        self._total: int | None = None
        self._unit = "step"
        self._started = clock()
        self._last_line = -float("inf")
        self._last_step: tuple[int, str] | None = None

    def plan(self, total: int, unit: str, detail: str = "") -> None:
        self._total, self._unit = total, unit
        self._emit(f"plan: {_count(total, unit)}" + (f" ({visible(detail)})" if detail else ""))

    def advance(self, done: int, detail: str, eta_s: float | None = None) -> None:
        now = self._clock()
        # A step is its count and what it works on ("saliency", "ablating heads"); the
        # same step reported again (a pass counter ticking) prints once per interval.
        step = (done, detail.split(":")[0])
        if step == self._last_step and now - self._last_line < PLAIN_INTERVAL_S:
            return
        self._last_step = step
        if self._total is None:  # before the plan: what it is doing, nothing to count yet
            self._emit(visible(detail))
            return
        count = f"{done}/{_count(self._total, self._unit)}"
        eta = _eta(self._started, done, self._total, eta_s, now)
        self._emit(f"{count}, {visible(detail)}, {eta}")

    def _emit(self, text: str) -> None:
        self._last_line = self._clock()
        self._write(f"{self.stage:>12}   {text}")


class LiveProgress:
    """A rich progress bar for one stage, on the terminal while the stage runs."""

    def __init__(self, stage: str, console: object) -> None:
        self.stage = stage
        self._console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()

    def _ensure(self, total: int | None) -> tuple[Progress, TaskID]:
        if self._bar is None or self._task is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn(f"{_escape(self.stage):>12}", style="bold"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=self._console,  # type: ignore[arg-type]
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=total)
        return self._bar, self._task

    def plan(self, total: int, unit: str, detail: str = "") -> None:
        bar, task = self._ensure(total)
        bar.update(task, total=total, description=_escape(f"{_count(total, unit)}: {detail}"))

    def advance(self, done: int, detail: str, eta_s: float | None = None) -> None:
        bar, task = self._ensure(None)
        total = bar.tasks[0].total
        eta = _eta(self._started, done, int(total) if total else None, eta_s, time.monotonic())
        bar.update(task, completed=done, description=_escape(f"{detail}, {eta}"))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
