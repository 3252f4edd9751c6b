"""``python -m harness report RESULT``: the HTML report from a result.json alone.

Reports read only the result (docs/architecture.md), so a result from another machine,
or from an older schema version (upgraded by ``migrate()``), renders without the model.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import ExitCode
from harness.core.result import AuditResult
from harness.output import REPORT_FILE, write_html_file

if TYPE_CHECKING:
    from harness.reports.vocabulary import Vocabulary

__all__ = ["rerender", "run"]


def run(args: argparse.Namespace) -> int:
    """``harness report RESULT [-o FILE] [--config FILE]``: re-render, say where."""
    from harness.reports.vocabulary import load_vocabulary

    vocabulary = load_vocabulary(Path(args.vocab)) if args.vocab else None
    written = rerender(
        Path(args.result),
        Path(args.output) if args.output else None,
        Path(args.config) if args.config else None,
        vocabulary,
    )
    print(f"wrote {written}")
    return ExitCode.OK


def rerender(
    result_path: Path,
    output: Path | None = None,
    config_file: Path | None = None,
    vocabulary: Vocabulary | None = None,
) -> Path:
    """Render ``result_path`` to ``output`` (default: report.html beside it), atomically;
    with CONFIG_FILE, the findings are judged by its ``findings`` thresholds instead of
    those the audit recorded (and the report's config table says so, and the verdict is
    theirs). A result written before audits recorded a verdict is shown without one."""
    from harness.core.config import findings_from_file
    from harness.reports import render_report
    from harness.reports.findings import verdict

    result = AuditResult.read(result_path)
    if config_file is not None:
        thresholds = findings_from_file(config_file, result.config.findings)
        config = dataclasses.replace(
            result.config,
            findings=thresholds,
            sources=(*result.config.sources, f"report --config {config_file} (findings)"),
        )
        result = dataclasses.replace(result, config=config)
        if result.verdict is not None:  # new thresholds, new findings: their verdict
            result = dataclasses.replace(result, verdict=verdict(result))
    html = render_report(result, vocabulary)
    target = output if output is not None else result_path.parent / REPORT_FILE
    write_html_file(target, html, (result_path,))
    return target
