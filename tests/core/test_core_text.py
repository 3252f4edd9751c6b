"""harness.core.text: a model's or a result's string made safe to show."""

from __future__ import annotations

import pytest

from harness.core.text import escape_character, visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("name\u202eexe.txt", "name\\u202eexe.txt"),  # right-to-left override
        ("a\x00b", "a\\u0000b"),  # NUL
        ("\x1b[2Jclear", "\\u001b[2Jclear"),  # a terminal escape
        ("bell\x07", "bell\\u0007"),
        ("c1\x85", "c1\\u0085"),  # a C1 control (next line)
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("line\u2028sep", "line\\u2028sep"),
        ("half \ud800", "half \\ud800"),  # a lone surrogate: not even writable as UTF-8
        ("two\nlines\tand\rreturn", "two\\nlines\\tand\\rreturn"),
    ],
)
def test_unsafe_characters_are_shown_as_their_codes(raw, shown):
    assert visible(raw) == shown
    shown.encode("utf-8")


def test_ordinary_text_is_unchanged():
    text = "résumé 中文 ✓ [bold] <b> & 'q' \\u202e"
    assert visible(text) == text


def test_layout_is_kept_where_text_may_span_lines():
    assert visible("a\n\tb\r\n\u202e", keep_lines=True) == "a\n\tb\r\n\\u202e"


def test_escape_character_names_the_usual_ones():
    assert [escape_character(c) for c in "\n\t\r\x00"] == ["\\n", "\\t", "\\r", "\\u0000"]
