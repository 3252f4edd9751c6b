"""``python -m harness compare A.json B.json``: one HTML page comparing two audits.

A is the base, B the current. The page reads only the two results (DESIGN.md), so audits
from other machines, or of older schema versions (upgraded by ``migrate()``), compare
without their models. It judges every metric as the gate does at default thresholds, but
it only reports: its exit code is 0 whatever changed (``harness gate`` fails a build).
"""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import ResultFormatError, UsageError
from harness.core.files import write_bytes_atomic
from harness.core.result import AuditResult

__all__ = ["DIFF_FILE", "compare", "load_result"]

DIFF_FILE = "diff.html"


def compare(base_path: Path, current_path: Path, output: Path | None = None) -> Path:
    """Render the comparison of BASE_PATH (A) and CURRENT_PATH (B) to OUTPUT (default:
    diff.html beside B), atomically; nothing is written when anything fails."""
    from reports.compare import render_comparison

    base = load_result(base_path, "A")
    current = load_result(current_path, "B")
    target = output if output is not None else current_path.parent / DIFF_FILE
    _check_target(target, (base_path, current_path))
    html = render_comparison(base, current)
    write_bytes_atomic(target, html.encode("utf-8"))
    return target


def load_result(path: Path, label: str) -> AuditResult:
    """The result at PATH; a missing, unreadable, corrupt or too new file is a one-line
    ``ResultFormatError`` naming LABEL and PATH."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFormatError(
            f"{label} '{path}' does not exist; pass the result.json an audit wrote"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFormatError(f"cannot read {label} '{path}': {exc}") from exc
    try:
        return AuditResult.from_json(text)
    except ResultFormatError as exc:
        raise ResultFormatError(f"{label} '{path}': {exc}") from exc


def _check_target(target: Path, inputs: tuple[Path, ...]) -> None:
    if target.is_dir():
        raise UsageError(f"-o '{target}' is a folder; name the .html file to write")
    if not target.parent.is_dir():
        raise UsageError(f"folder '{target.parent}' does not exist; create it or choose another -o")
    if any(target.resolve() == path.resolve() for path in inputs):
        raise UsageError(f"-o '{target}' is one of the results being compared; choose another -o")
