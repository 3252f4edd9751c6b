"""README's two quick-start commands stay true: CI runs the same test command."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in quick_start.splitlines() if line.startswith("    ")]


def test_readme_has_an_audit_command_and_a_test_command():
    audit, tests = readme_commands()
    assert "-m harness audit models/zoo/cnn_digits.onnx" in audit
    assert (REPO / "models" / "zoo" / "cnn_digits.onnx").is_file()
    assert tests.endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command():
    pytest_args = readme_commands()[1].split("python -m pytest", 1)[1]
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    ci_pytest = [line for line in ci_lines if '/bin/python" -m pytest' in line]
    assert len(ci_pytest) == 1
    assert ci_pytest[0].split("-m pytest", 1)[1] == pytest_args


def test_readme_exit_codes_match_the_cli():
    from harness.cli import EXIT_CODES

    text = (REPO / "README.md").read_text()
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"^\|\s*{code}\s*\|", text, re.MULTILINE)
        assert re.search(rf"^\s+{code}\s+\S", EXIT_CODES, re.MULTILINE)
