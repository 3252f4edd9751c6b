"""How a command's end becomes what the user sees: one stderr line and an exit code.

``harness.cli.main`` runs every command inside ``termination_as_interrupt`` and hands
whatever ended it to one of these: ``fail`` (the harness's own errors, what the machine
lacked, or a bug), ``interrupted`` (Ctrl-C, SIGTERM, SIGHUP). The line is always one line,
control characters shown as their codes (``harness.core.text.visible``), at most
``ERROR_LINE_LIMIT`` characters with its start and end kept: a 1M-character file name
echoed back must not become a megabyte of stderr.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from harness.core.errors import first_line, is_out_of_memory, shorten
from harness.core.text import visible

__all__ = [
    "ERROR_LINE_LIMIT",
    "environment_cause",
    "fail",
    "interrupted",
    "one_line",
    "termination_as_interrupt",
]

# The one stderr line of a failure is cut to this many characters, start and end kept.
ERROR_LINE_LIMIT = 1000
_TERMINATING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def fail(line: str, code: int, debug: bool) -> int:
    """Print the one line a failure gets (after the traceback, with --debug)."""
    if debug:
        traceback.print_exc()
    print(one_line(line), file=sys.stderr)
    return int(code)


def one_line(text: str) -> str:
    """TEXT as one readable line: control characters (a newline or a terminal escape in a
    file name) shown escaped, and at most ERROR_LINE_LIMIT characters, start and end kept."""
    return shorten(visible(text), ERROR_LINE_LIMIT)


def environment_cause(exc: BaseException) -> str | None:
    """What this machine lacked, for a failure that is not a bug in the harness: memory, disk
    space, a name the file system takes, permission. None for anything else."""
    if is_out_of_memory(exc):
        return (
            f"ran out of memory ({first_line(exc, 120)}); try a smaller --shape/--budget, "
            "or a machine with more memory"
        )
    if not isinstance(exc, OSError) or exc.errno not in _OS_CAUSES:
        return None
    where = f" writing '{shorten(str(exc.filename))}'" if exc.filename else ""
    return f"{_OS_CAUSES[exc.errno]}{where} ({exc.strerror or exc})"


_OS_CAUSES = {
    errno.ENOSPC: "the disk is full: free some space or choose another --out",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another --out",
    errno.ENAMETOOLONG: "a file name is too long for the file system: choose a shorter --out",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.EACCES: "permission denied: choose a path you can write, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a path you can write, or fix its permissions",
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised as Ctrl-C is so that the same clean-up runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM (timeout, CI cancellation, docker stop) and SIGHUP (a
    closed terminal) raise ``_Terminated`` instead of killing the process outright, which
    would leave a staging folder behind. Handlers someone set (nohup's SIG_IGN) are kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for number in _TERMINATING_SIGNALS:
        if signal.getsignal(number) is signal.SIG_DFL:
            previous[number] = signal.signal(number, _raise_terminated)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def interrupted(exc: KeyboardInterrupt) -> int:
    """One line for Ctrl-C or a termination signal, saying what was left written: the
    command notes it on the exception (the audit does); without a note, what holds for
    every command, whose files are each replaced whole or not at all."""
    notes = getattr(exc, "__notes__", None)
    outcome = "; ".join(notes) if notes else "no file was left half-written"
    if isinstance(exc, _Terminated):
        print(one_line(f"terminated by {exc}; {outcome}"), file=sys.stderr)
        return 128 + exc.signum
    print(one_line(f"interrupted; {outcome}"), file=sys.stderr)
    return 128 + signal.SIGINT
