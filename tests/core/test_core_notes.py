"""harness.core.notes: warnings raised or logged during an audit, kept as one-line notes."""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import replace
from pathlib import Path

from harness.core.notes import MAX_NOTES, Notes, recording_notes
from harness.core.result import AuditResult

log = logging.getLogger("harness.tests.notes")


def test_python_warnings_and_logged_warnings_become_notes_once_each():
    with recording_notes() as notes:
        for _ in range(3):
            warnings.warn("divide by zero\nsecond line", RuntimeWarning, stacklevel=1)
        log.warning("a metric failed: %s", "NaN scores")
        log.warning("a metric failed: %s", "NaN scores")
        log.info("not a warning")
    lines = notes.lines()
    assert lines[0].startswith("RuntimeWarning: divide by zero (test_core_notes.py:")
    assert lines[1:] == ("a metric failed: NaN scores",)


def test_warning_display_and_root_handlers_are_restored():
    show, handlers = warnings.showwarning, list(logging.getLogger().handlers)
    with recording_notes():
        assert warnings.showwarning is not show
    assert warnings.showwarning is show
    assert logging.getLogger().handlers == handlers


def test_a_silenced_warning_stays_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with recording_notes() as notes:
            warnings.warn("ignored on purpose", UserWarning, stacklevel=1)
    assert notes.lines() == ()


def test_notes_are_capped_and_say_how_many_were_not_kept():
    notes = Notes()
    for i in range(MAX_NOTES + 5):
        notes.add(f"warning {i}")
    notes.add("warning 0")  # a repeat is not counted as dropped
    lines = notes.lines()
    assert len(lines) == MAX_NOTES + 1
    assert lines[-1] == "... and 5 more warnings not kept"


def test_a_result_written_before_notes_reads_with_none_and_notes_round_trip():
    golden = Path(__file__).parents[1] / "reports" / "golden" / "v2_failed_stages.json"
    data = json.loads(golden.read_text())
    assert "notes" not in data
    result = AuditResult.from_dict(data)
    assert result.notes == ()
    noted = replace(result, notes=("RuntimeWarning: overflow (x.py:1)",))
    assert AuditResult.from_json(noted.to_json()).notes == noted.notes
