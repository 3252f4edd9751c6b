"""The layering contracts in .importlinter hold: the test command catches a violation too,
not only `tox -e lint` and CI (docs/architecture.md explains each contract)."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".importlinter"


def contract_names() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return [
        parser[section]["name"]
        for section in parser.sections()
        if section.startswith("importlinter:contract:")
    ]


def lint_imports() -> subprocess.CompletedProcess[str]:
    # lint-imports' own entry point, in this interpreter (the dev extra brings
    # import-linter), run from the repository root, where it finds .importlinter and the
    # sources.
    entry = (
        "import sys; from importlinter.cli import lint_imports_command as main; sys.exit(main())"
    )
    # A wide terminal for its report: a long contract name must not wrap onto two lines.
    return subprocess.run(
        [sys.executable, "-c", entry, "--no-cache", "--no-logo"],
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_config_names_every_layering_rule() -> None:
    names = contract_names()
    assert len(names) == len(set(names)) == 8
    assert any(name.startswith("harness.core is the leaf") for name in names)
    assert any(name.startswith("layers:") for name in names)


def test_every_contract_is_kept() -> None:
    done = lint_imports()
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    lines = {line.strip() for line in done.stdout.splitlines()}
    for name in contract_names():
        assert f"{name} KEPT" in lines, report
