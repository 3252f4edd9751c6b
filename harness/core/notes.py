"""What went wrong quietly during an audit, kept for its result.

Inside ``recording_notes()`` every Python warning (numpy's RuntimeWarning, onnx2torch's
UserWarning, torch's) becomes one log record of the ``py.warnings`` logger, like
``logging.captureWarnings`` does but on one line, and every log record of WARNING or above
(the harness's own "a metric failed: ...", a library's) is kept as one line, each text
once. The audit's result carries them (``AuditResult.notes``); whether they are also shown
is the command line's business (it has a handler on the same records, silent under
``--quiet``). The warnings filters are Python's own: what a user silenced stays silent.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MAX_NOTES", "Notes", "recording_notes"]

# A warning raised inside a loop over thousands of inputs, each with its own numbers,
# must not grow the result without bound.
MAX_NOTES = 50

_WARNINGS_LOGGER = logging.getLogger("py.warnings")


class Notes:
    """One-line notes in the order first seen, each text once, at most ``MAX_NOTES``."""

    def __init__(self) -> None:
        self._lines: dict[str, None] = {}
        self._dropped = 0

    def add(self, text: str) -> None:
        lines = text.strip().splitlines()
        line = lines[0] if lines else ""
        if not line or line in self._lines:
            return
        if len(self._lines) < MAX_NOTES:
            self._lines[line] = None
        else:
            self._dropped += 1

    def lines(self) -> tuple[str, ...]:
        more = (f"... and {self._dropped} more warnings not kept",) if self._dropped else ()
        return (*self._lines, *more)


class _NoteHandler(logging.Handler):
    def __init__(self, notes: Notes) -> None:
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.notes.add(record.getMessage())
        except Exception:
            self.handleError(record)


def _warning_as_record(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """A Python warning as one log line: "RuntimeWarning: invalid value ... (x.py:12)"."""
    text = str(message).strip().splitlines()
    first = text[0] if text else ""
    _WARNINGS_LOGGER.warning(
        "%s: %s (%s:%d)", category.__name__, first, Path(filename).name, lineno
    )


@contextmanager
def recording_notes() -> Iterator[Notes]:
    """Keep every warning raised or logged inside as a note (see the module's docstring);
    Python's warning display and the root logger's handlers are restored on the way out."""
    notes = Notes()
    handler = _NoteHandler(notes)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_as_record
            yield notes
    finally:
        root.removeHandler(handler)
