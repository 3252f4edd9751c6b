"""Logging for one command run, set up once by the CLI (``configure_logging``).

Without it, Python prints a library's warning through its last-resort handler (a bare
line, a traceback when one was attached) and a third-party ``warnings.warn`` as two lines
with a source excerpt, even under ``--quiet``. With it, every record of WARNING or above,
and every Python warning raised outside an audit's own capture, is one line through the
command's terminal (``harness.commands.terminal``), each text once; under ``--quiet``
nothing. ``--debug`` adds the harness's debug records and the tracebacks.
"""

from __future__ import annotations

import logging
import traceback

from harness.commands.terminal import Terminal, current_terminal

__all__ = ["configure_logging"]

_HARNESS_LOGGER = "harness"


class _TerminalHandler(logging.Handler):
    """Each record as one line through the current terminal, the same text only once."""

    def __init__(self, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.WARNING)
        self.debug = debug
        self.shown: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            terminal = current_terminal()
            if terminal is None or terminal.quiet:
                return
            text = _one_line(record.getMessage()) if not self.debug else record.getMessage()
            if text in self.shown:
                return
            self.shown.add(text)
            if record.levelno >= logging.WARNING:
                terminal.warn(text)
            else:
                terminal.debug(f"{record.levelname.lower()}: {record.name}: {text}")
            if self.debug and record.exc_info:
                terminal.debug("".join(traceback.format_exception(*record.exc_info)))
        except Exception:
            self.handleError(record)


def _one_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0] if lines else ""


def configure_logging(quiet: bool, debug: bool = False) -> None:
    """Route this process's log records and Python warnings to one stderr line each
    (none when QUIET); called again, it replaces what it set up before."""
    Terminal(quiet)  # until the command builds its own, once it knows its settings
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _TerminalHandler)]:
        root.removeHandler(handler)
    root.addHandler(_TerminalHandler(debug))
    # The harness's own debug records only: a library's would drown them.
    logging.getLogger(_HARNESS_LOGGER).setLevel(logging.DEBUG if debug else logging.NOTSET)
    logging.captureWarnings(True)
