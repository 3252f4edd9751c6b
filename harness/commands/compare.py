"""``python -m harness compare A.json B.json``: one HTML page comparing two audits.

A is the base, B the current. The page reads only the two results
(docs/architecture.md), so audits from other machines, or of older schema versions
(upgraded by ``migrate()``), compare without their models. It judges every metric as the
gate does at default thresholds, but it only reports: its exit code is 0 whatever changed
(``harness gate`` fails a build).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.core.errors import ExitCode
from harness.core.result import AuditResult
from harness.output import write_html_file

__all__ = ["DIFF_FILE", "compare", "run"]

DIFF_FILE = "diff.html"


def run(args: argparse.Namespace) -> int:
    """``harness compare A B [-o FILE]``: write the page, say where."""
    output = Path(args.output) if args.output else None
    written = compare(Path(args.base), Path(args.current), output)
    print(f"wrote {written}")
    return ExitCode.OK


def compare(base_path: Path, current_path: Path, output: Path | None = None) -> Path:
    """Render the comparison of BASE_PATH (A) and CURRENT_PATH (B) to OUTPUT (default:
    diff.html beside B), atomically; nothing is written when anything fails."""
    from harness.reports.compare import render_comparison

    base = AuditResult.read(base_path, "A")
    current = AuditResult.read(current_path, "B")
    target = output if output is not None else current_path.parent / DIFF_FILE
    write_html_file(target, render_comparison(base, current), (base_path, current_path))
    return target
