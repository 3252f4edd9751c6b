"""``python -m harness compare A.json B.json``: one HTML page comparing two audits.

A is the base, B the current. The page reads only the two results
(docs/architecture.md), so audits from other machines, or of older schema versions
(upgraded by ``migrate()``), compare without their models. Compare and the gate are one
judge: the gate's default checks are decided here by the gate itself (``plan_gate`` /
``judge``, file mode, one Holm family) and handed to the page as data, so the two never
disagree on a check both evaluate; the other metrics are shown for context, not judged.
Two results of different models are refused (exit 2) unless ``--allow-different-models``.
Its exit code is 0 whatever changed (``harness gate`` fails a build).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import ExitCode
from harness.core.model_identity import require_same_model
from harness.core.result import AuditResult
from harness.output import write_html_file

if TYPE_CHECKING:
    from harness.reports.compare import Comparison, GateVerdicts

__all__ = ["DIFF_FILE", "compare", "judge", "run"]

DIFF_FILE = "diff.html"


def run(args: argparse.Namespace) -> int:
    """``harness compare A B [-o FILE]``: write the page, say where."""
    output = Path(args.output) if args.output else None
    allow = getattr(args, "allow_different_models", False)
    written = compare(Path(args.base), Path(args.current), output, allow_different_models=allow)
    print(f"wrote {written}")
    return ExitCode.OK


def judge(
    base_path: Path, current_path: Path, *, allow_different_models: bool = False
) -> Comparison:
    """Everything the page shows for BASE_PATH (A) and CURRENT_PATH (B), the gate's default
    checks decided by the gate."""
    from harness.reports.compare import compare as build

    base, current, verdicts = _read_and_judge(base_path, current_path, allow_different_models)
    return build(base, current, verdicts)


def compare(
    base_path: Path,
    current_path: Path,
    output: Path | None = None,
    *,
    allow_different_models: bool = False,
) -> Path:
    """Render the comparison of BASE_PATH (A) and CURRENT_PATH (B) to OUTPUT (default:
    diff.html beside B), atomically; nothing is written when anything fails."""
    from harness.reports.compare import render_comparison

    base, current, verdicts = _read_and_judge(base_path, current_path, allow_different_models)
    target = output if output is not None else current_path.parent / DIFF_FILE
    page = render_comparison(base, current, verdicts)
    write_html_file(target, page, (base_path, current_path))
    return target


def _read_and_judge(
    base_path: Path, current_path: Path, allow: bool
) -> tuple[AuditResult, AuditResult, GateVerdicts]:
    from harness.gate.gate import GateRequest, plan_gate
    from harness.gate.gate import judge as gate_judge
    from harness.reports.compare import GateVerdicts

    base = AuditResult.read(base_path, "A")
    current = AuditResult.read(current_path, "B")
    identity = require_same_model(base, current, allow=allow, labels=("A", "B"))
    request = GateRequest(base_path, current_path, allow_different_models=allow)
    gate = gate_judge(plan_gate(request))
    first_run = _first_shared_run(base, current)
    outcomes = tuple((o.check.metric, o.check.run or first_run, o) for o in gate.outcomes)
    return base, current, GateVerdicts(outcomes, identity)


def _first_shared_run(base: AuditResult, current: AuditResult) -> str | None:
    """The backend run the gate's default checks read: each result's first (the gate says
    when those differ); the page shows it under B's first run."""
    from harness.core.headline import available_runs

    runs = available_runs(current) or available_runs(base)
    return runs[0] if runs else None
