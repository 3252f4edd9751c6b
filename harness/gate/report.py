"""The gate's verdicts for people and for CI: a terminal table, Markdown, JUnit XML.

All three show the same rows: check, base, current, change (with its 95% CI when the raw
samples give one), Holm-adjusted p, verdict; then improvements, the reasons behind every
failing or undecided check, the environment differences, and one summary line. Files are
written atomically, so CI never reads half a report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.comparison import CheckOutcome, format_change
from harness.core.errors import UsageError
from harness.core.files import write_bytes_atomic
from harness.gate.gate import GateResult

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = [
    "COLUMNS",
    "junit_xml",
    "markdown",
    "row",
    "terminal",
    "write_junit",
    "write_markdown",
]

COLUMNS = ("check", "base", "current", "change (95% CI)", "p (Holm)", "verdict")

_STYLES = {
    "regression": "bold red",
    "inconclusive": "yellow",
    "missing": "yellow",
    "improvement": "green",
    "pass": "green",
}


def row(outcome: CheckOutcome, mark: str = "") -> tuple[str, ...]:
    """One check as the table's cells, in ``COLUMNS`` order; MARK follows the verdict
    (``GateResult.mark``: " (different models)")."""
    return (
        outcome.check.text,
        _value(outcome.base, outcome.unit),
        _value(outcome.current, outcome.unit),
        _change(outcome),
        f"{outcome.p_adjusted:.2g}" if outcome.p_adjusted is not None else "-",
        outcome.verdict + mark,
    )


def terminal(gate: GateResult) -> RenderableType:
    """A rich renderable: the table, then the blocks below it and the summary line."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"harness gate: {gate.compared}", title_justify="left")
    for column in COLUMNS:
        if column == "check":
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="left" if column == "verdict" else "right")
    for outcome in gate.outcomes:
        *cells, verdict = row(outcome, gate.mark)
        table.add_row(*cells, Text(verdict, style=_STYLES[outcome.verdict]))
    parts: list[RenderableType] = [table]
    for title, lines in _blocks(gate):
        parts.append(Text(f"{title}:", style="bold"))
        parts += [Text(f"  {line}") for line in lines]
    style = "bold green" if gate.exit_code == 0 else "bold red"
    parts.append(Text.from_markup(f"[{style}]{escape(gate.summary)}[/]"))
    return Group(*parts)


def markdown(gate: GateResult) -> str:
    """A GitHub job summary: the verdict line first, then the table and the blocks."""
    lines = [f"**{_md(gate.summary)}**", ""]
    lines += [f"Compared {_md(gate.compared)}; alpha {gate.alpha:g}, Holm-corrected.", ""]
    lines += [_md_row(COLUMNS), _md_row(("---",) * len(COLUMNS))]
    for outcome in gate.outcomes:
        check, *cells = row(outcome, gate.mark)
        lines.append(_md_row((f"`{check}`", *cells)))
    for title, block in _blocks(gate):
        lines += ["", f"**{title}**", ""] + [f"- {_md(line)}" for line in block]
    return "\n".join(lines) + "\n"


def junit_xml(gate: GateResult) -> bytes:
    """One ``<testsuite name="harness gate">``, one ``<testcase>`` per check (and one for
    the environment under ``--strict-env`` when it differs)."""
    suite = ET.Element("testsuite", name="harness gate")
    failures = skipped = 0
    for outcome in gate.outcomes:
        case = ET.SubElement(suite, "testcase", classname="harness.gate", name=outcome.check.text)
        kind = _junit_kind(outcome, gate)
        if kind == "failure":
            failures += 1
            failure = ET.SubElement(case, "failure", message=outcome.reason, type=outcome.verdict)
            failure.text = _details(outcome)
        elif kind == "skipped":
            skipped += 1
            ET.SubElement(case, "skipped", message=outcome.reason)
        else:
            ET.SubElement(case, "system-out").text = _details(outcome)
    if gate.failing_environment:
        failures += 1
        case = ET.SubElement(suite, "testcase", classname="harness.gate", name="environment")
        message = "environment differs under --strict-env: " + ", ".join(
            f"{d.field} {d.base!r} -> {d.current!r}" for d in gate.failing_environment
        )
        ET.SubElement(case, "failure", message=message, type="environment")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write_markdown(gate: GateResult, path: Path) -> None:
    _write(path, markdown(gate).encode("utf-8"), "--markdown")


def write_junit(gate: GateResult, path: Path) -> None:
    _write(path, junit_xml(gate), "--junit")


def _write(path: Path, data: bytes, flag: str) -> None:
    if path.is_dir():
        raise UsageError(f"{flag} '{path}' is a folder; name the file to write")
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise UsageError(f"{flag} '{path}' cannot be written: {exc.strerror or exc}") from exc


def _junit_kind(outcome: CheckOutcome, gate: GateResult) -> str:
    if outcome.verdict == "regression":
        return "failure"
    if outcome.verdict == "inconclusive":
        return "failure" if gate.inconclusive == "fail" else "skipped"
    if outcome.verdict == "missing":
        return "skipped"
    return "plain"


def _blocks(gate: GateResult) -> list[tuple[str, list[str]]]:
    """(title, lines) of the blocks below the table, the empty ones left out."""
    improvements = [f"{o.check.text}: {o.reason}" for o in gate.with_verdict("improvement")]
    why = [
        f"{o.check.text} ({o.verdict}): {o.reason}"
        for o in gate.outcomes
        if o.verdict in ("regression", "inconclusive", "missing")
    ]
    strict = " (failing under --strict-env)" if gate.failing_environment else ""
    environment = [f"{d.field}: {d.base} -> {d.current}" for d in gate.environment]
    blocks = [
        ("improvements", improvements),
        ("why", why),
        (f"environment differences{strict}", environment),
    ]
    return [(title, lines) for title, lines in blocks if lines]


def _details(outcome: CheckOutcome) -> str:
    base, current, change = (
        _value(outcome.base, outcome.unit),
        _value(outcome.current, outcome.unit),
        _change(outcome),
    )
    return (
        f"{outcome.verdict}: {outcome.reason}\n"
        f"base {base}, current {current}, change {change}, test {outcome.test}"
    )


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    if unit == "samples/s":
        return f"{value:,.0f}/s"
    return f"{value:.4g} {unit}".rstrip()


def _change(outcome: CheckOutcome) -> str:
    change = outcome.change
    if change is None:
        return "-"
    text = format_change(change, outcome.check.relative)
    if outcome.check.relative and outcome.change_ci is not None:
        low, high = outcome.change_ci
        text += f" [{low * 100:+.1f}, {high * 100:+.1f}]"
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_row(cells: tuple[str, ...] | list[str]) -> str:
    return "| " + " | ".join(_md(cell) for cell in cells) + " |"
