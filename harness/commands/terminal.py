"""Progress and warnings on stderr for the commands that take a while (audit, gate --ab)."""

from __future__ import annotations

__all__ = ["Terminal"]


class Terminal:
    """Progress and warnings on stderr, through rich when it is installed."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    def progress(self, step: str, event: str, detail: str) -> None:
        if self.quiet:
            return
        if event == "start":
            self.console.print(f"[bold]{step:>12}[/] {detail} ...", markup=True)
        else:
            self.console.print(f"[bold]{step:>12}[/] {detail}", markup=True)

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/] {_escape(message)}", markup=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
