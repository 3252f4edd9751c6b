"""Progress and warnings on stderr for the commands that take a while (audit, gate --ab).

Every text shown here may hold a user's or a model's string (a path, an input name): it is
printed as text, never as rich markup (a ``[/]`` in a file name is not a closing tag), and
with its control characters and bidirectional overrides written visibly, on one line.
"""

from __future__ import annotations

from harness.core.text import visible

__all__ = ["Terminal", "current_terminal"]

_current: Terminal | None = None


class Terminal:
    """Progress and warnings on stderr, through rich when it is installed.

    The newest terminal is the one log records go through (``current_terminal``): a
    command builds its own once it has resolved its settings, and only then is it known
    whether a config file asked for ``quiet``.
    """

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        global _current
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        _current = self

    def progress(self, step: str, event: str, detail: str) -> None:
        if self.quiet:
            return
        ellipsis = " ..." if event == "start" else ""
        self.console.print(f"[bold]{_escape(step):>12}[/] {_escape(detail)}{ellipsis}")

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
