"""``python -m harness report RESULT``: the HTML report from a result.json alone.

Reports read only the result (DESIGN.md), so a result from another machine, or from an
older schema version (upgraded by ``migrate()``), renders without the model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.core.errors import ResultFormatError, UsageError
from harness.core.files import write_bytes_atomic
from harness.core.result import AuditResult
from harness.output import REPORT_FILE

__all__ = ["rerender"]


def rerender(
    result_path: Path, output: Path | None = None, config_file: Path | None = None
) -> Path:
    """Render ``result_path`` to ``output`` (default: report.html beside it), atomically;
    with CONFIG_FILE, the findings are judged by its ``findings`` thresholds instead of
    those the audit recorded (and the report's config table says so)."""
    from harness.core.config import findings_from_file
    from reports import render_report

    try:
        text = result_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"result file '{result_path}' does not exist; pass a result.json") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFormatError(f"cannot read '{result_path}': {exc}") from exc
    result = AuditResult.from_json(text)
    if config_file is not None:
        thresholds = findings_from_file(config_file, result.config.findings)
        config = dataclasses.replace(
            result.config,
            findings=thresholds,
            sources=(*result.config.sources, f"report --config {config_file} (findings)"),
        )
        result = dataclasses.replace(result, config=config)
    html = render_report(result)
    target = output if output is not None else result_path.parent / REPORT_FILE
    _write_atomic(target, html)
    return target


def _write_atomic(target: Path, text: str) -> None:
    if target.is_dir():
        raise UsageError(f"-o '{target}' is a folder; name the .html file to write")
    if not target.parent.is_dir():
        raise UsageError(f"folder '{target.parent}' does not exist; create it or choose another -o")
    write_bytes_atomic(target, text.encode("utf-8"))
