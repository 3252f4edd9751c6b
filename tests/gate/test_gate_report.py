"""The gate's verdict, exit code and outputs for a set of outcomes of every kind."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from rich.console import Console

from harness.core.comparison import decide, parse_check
from harness.core.environment_diff import EnvDifference
from harness.core.errors import ExitCode
from harness.core.headline import Metric
from harness.gate.gate import GateResult
from harness.gate.report import COLUMNS, junit_xml, markdown, terminal


def score(name: str, value: float) -> Metric:
    return Metric(name, value, "", True, "point")


def few_samples(name: str, scale: float) -> Metric:
    samples = tuple(scale * x for x in (1.0, 1.1, 0.9, 1.05, 0.95))
    return Metric(name, scale, "ms", True, "samples", samples, 0.5)


BASE = {
    "x.worse": score("x.worse", 1.0),
    "x.better": score("x.better", 1.0),
    "x.same": score("x.same", 1.0),
    "latency.p50": few_samples("latency.p50", 1.0),
    "x.gone": score("x.gone", 1.0),
}
CURRENT = {
    "x.worse": score("x.worse", 2.0),
    "x.better": score("x.better", 0.5),
    "x.same": score("x.same", 1.01),
    "latency.p50": few_samples("latency.p50", 1.5),
}
CHECKS = ["x.worse:0.1", "x.better:0.1", "x.same:0.1", "latency.p50:5%", "x.gone:0.1"]
VERDICTS = ["regression", "improvement", "pass", "inconclusive", "missing"]


def gate_result(*texts: str, **changes: object) -> GateResult:
    outcomes = decide(BASE, CURRENT, [parse_check(text) for text in texts or CHECKS])
    result = GateResult(outcomes, (), 0.01, "fail", False, "b.json against a.json")
    return replace(result, **changes)  # type: ignore[arg-type]


def test_the_fixture_has_one_check_of_every_verdict():
    assert [o.verdict for o in gate_result().outcomes] == VERDICTS


@pytest.mark.parametrize(
    ("checks", "changes", "code", "summary"),
    [
        (CHECKS, {}, ExitCode.CHECK_FAILED, "gate: REGRESSION (1 of 5 checks)"),
        (CHECKS[1:], {}, ExitCode.INCONCLUSIVE, "gate: INCONCLUSIVE (1 of 4 checks)"),
        (
            CHECKS[1:],
            {"inconclusive": "pass"},
            ExitCode.OK,
            "gate: PASS (4 checks, 1 improved, 1 inconclusive, allowed by --inconclusive pass, "
            "1 missing)",
        ),
        (CHECKS[1:3], {}, ExitCode.OK, "gate: PASS (2 checks, 1 improved)"),
        (
            CHECKS[1:3],
            {"environment": (EnvDifference("threads", "2", "4"),)},
            ExitCode.OK,
            "gate: PASS (2 checks, 1 improved)",
        ),
        (
            CHECKS[1:3],
            {"environment": (EnvDifference("threads", "2", "4"),), "strict_env": True},
            ExitCode.CHECK_FAILED,
            "gate: FAIL, environment differs under --strict-env (threads)",
        ),
    ],
)
def test_exit_code_and_summary(checks, changes, code, summary):
    result = gate_result(*checks, **changes)
    assert result.exit_code == code
    assert result.summary == summary


def junit_cases(result: GateResult) -> dict[str, ET.Element]:
    suite = ET.fromstring(junit_xml(result))
    return {case.get("name", ""): case for case in suite.findall("testcase")}


def test_junit_marks_each_verdict():
    result = gate_result()
    suite = ET.fromstring(junit_xml(result))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    cases = junit_cases(result)
    assert cases["x.worse:0.1"].find("failure") is not None
    failure = cases["x.worse:0.1"].find("failure")
    assert failure is not None and "+1, worse than the 0.1 threshold" in failure.get("message", "")
    assert cases["latency.p50:5%"].find("failure") is not None
    assert cases["x.gone:0.1"].find("skipped") is not None
    for name in ("x.better:0.1", "x.same:0.1"):
        case = cases[name]
        assert case.find("failure") is None and case.find("skipped") is None
        out = case.find("system-out")
        assert out is not None and out.text
    better_out = cases["x.better:0.1"].find("system-out")
    assert better_out is not None and (better_out.text or "").startswith("improvement")


def test_junit_skips_inconclusive_checks_that_do_not_fail():
    cases = junit_cases(gate_result(inconclusive="pass"))
    assert cases["latency.p50:5%"].find("failure") is None
    assert cases["latency.p50:5%"].find("skipped") is not None


def test_junit_fails_a_strict_environment_in_its_own_testcase():
    env = (EnvDifference("cpu_model", "A", "B"),)
    cases = junit_cases(gate_result(*CHECKS[1:3], environment=env, strict_env=True))
    failure = cases["environment"].find("failure")
    assert failure is not None and "cpu_model 'A' -> 'B'" in failure.get("message", "")
    assert "environment" not in junit_cases(gate_result(*CHECKS[1:3], environment=env))


def test_markdown_leads_with_the_verdict_and_has_a_row_per_check():
    result = gate_result()
    lines = markdown(result).splitlines()
    assert lines[0] == f"**{result.summary}**"
    header = lines.index("| " + " | ".join(COLUMNS) + " |")
    rows = lines[header + 2 : header + 2 + len(CHECKS)]
    assert [row.split("`")[1] for row in rows] == CHECKS
    assert [row.rstrip(" |").rsplit("| ", 1)[1] for row in rows] == VERDICTS
    assert "**improvements**" in lines


def test_the_terminal_view_ends_with_the_summary():
    console = Console(width=150, record=True)
    console.print(terminal(gate_result(environment=(EnvDifference("threads", "2", "4"),))))
    text = console.export_text()
    assert text.strip().splitlines()[-1] == "gate: REGRESSION (1 of 5 checks)"
    assert "threads: 2 -> 4" in text
    for check in CHECKS:
        assert check in text
