"""Strings from a model or a result file, made safe to show.

A model's names, metadata and doc strings are whoever wrote the file's choice: a NUL, an
ANSI escape or a right-to-left override (U+202E) in them would rewrite a terminal line or
reorder the report's text so that it reads as something else. Wherever such a string is
shown, each of these characters is written visibly as its code (``\\u202e``), never raw:
``visible`` for a terminal line or plain text, and the report's finaliser
(``harness.reports.render``) with the same ``UNSAFE_IN_TEXT`` for HTML.
"""

from __future__ import annotations

import re

__all__ = ["UNSAFE_IN_LINE", "UNSAFE_IN_TEXT", "escape_character", "visible"]

# Characters that are invisible or change how the text around them is laid out:
# C0 and C1 controls (but tab, newline and carriage return, which text may hold), DEL,
# the bidirectional marks, embeddings, overrides and isolates, zero-width and invisible
# formatting characters, the line and paragraph separators, and lone surrogates (which
# cannot even be written as UTF-8: a result file's "\ud800" would stop the report).
_UNSAFE = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\ud800-\udfff"
)

# In text that may span lines (the report, where tab and newline are white space).
UNSAFE_IN_TEXT = re.compile(f"[{_UNSAFE}]")
# On one terminal line, where a newline or carriage return would start another.
UNSAFE_IN_LINE = re.compile(f"[\t\n\r{_UNSAFE}]")


# The three a reader knows by their usual names.
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_character(character: str) -> str:
    """``character`` as its code: ``"\\u202e"``, ``"\\u0000"``; tab, newline and carriage
    return as ``"\\t"``, ``"\\n"``, ``"\\r"`` (every unsafe character is in the BMP)."""
    return _NAMED.get(character) or f"\\u{ord(character):04x}"


def visible(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every unsafe character written as its code. One line unless
    ``keep_lines``: then tab, newline and carriage return stay as they are."""
    pattern = UNSAFE_IN_TEXT if keep_lines else UNSAFE_IN_LINE
    return pattern.sub(lambda match: escape_character(match.group()), text)
