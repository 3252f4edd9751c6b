"""An incomplete FLOP count is never a number downstream: the report says "incomplete" with
the reason, draws no FLOPs figure, the findings warn and draw no percent of peak from it,
and the headline metric work.flops has no value (the gate, compare)."""

from __future__ import annotations

import dataclasses

from markupsafe import escape

from harness.core.comparison import decide, parse_check
from harness.core.efficiency import EfficiencySection, Work
from harness.core.headline import headline_metrics
from harness.core.result import AuditResult
from harness.reports import render_report
from harness.reports.findings import findings
from harness.reports.render import efficiency_figures
from tests.reports.test_report_efficiency import make_run, make_work
from tests.reports.test_report_findings import quiet_result

REASON = "the cost of 3 of 4 nodes (75.0%) is unknown, among them com.x.FusedMatMul <b>"


def incomplete_work() -> Work:
    return dataclasses.replace(
        make_work(), status="incomplete", unknown_cost_share=0.75, incomplete_reason=REASON
    )


def result_with(work: Work, **run: object) -> AuditResult:
    section = EfficiencySection("ok", runs=(make_run(**run),), work=work)
    return quiet_result(efficiency=section)


def test_a_complete_count_is_shown_and_is_a_headline_metric() -> None:
    result = result_with(make_work())
    assert "work-flops" in efficiency_figures(result.efficiency)
    html = render_report(result)
    assert "9,000,000" in html and "Arithmetic intensity" in html
    assert headline_metrics(result)["work.flops"].value == 9_000_000
    assert "efficiency.work_incomplete" not in {f.rule for f in findings(result)}


def test_the_report_says_incomplete_with_the_reason() -> None:
    # As the stage writes it: no roofline beside an incomplete count.
    result = result_with(incomplete_work(), roofline=None)
    figures = efficiency_figures(result.efficiency)
    assert "work-flops" not in figures and "run0-roofline" not in figures
    html = render_report(result)
    assert f"incomplete: {escape(REASON)}" in html
    assert "9,000,000" not in html and "GFLOPs (" not in html
    assert "Arithmetic intensity" not in html and "of peak)" not in html
    assert "75.0% of the graph's nodes" in html


def test_findings_warn_and_draw_nothing_from_the_lower_bound() -> None:
    result = result_with(incomplete_work())
    found = {f.rule: f for f in findings(result)}
    warning = found["efficiency.work_incomplete"]
    assert (warning.severity, warning.evidence, warning.where) == (
        "warn",
        REASON,
        "efficiency-work",
    )
    # make_run's roofline (3% of peak) would otherwise be an info finding.
    assert "efficiency.low_percent_of_peak" not in found


def test_the_headline_gives_an_incomplete_count_no_value() -> None:
    metric = headline_metrics(result_with(incomplete_work()))["work.flops"]
    assert (metric.value, metric.note) == (None, None)


def test_the_judge_calls_two_incomplete_counts_missing_and_one_inconclusive() -> None:
    complete = headline_metrics(result_with(make_work()))
    incomplete = headline_metrics(result_with(incomplete_work()))
    check = parse_check("work.flops:0%")
    ((both,),) = [decide(incomplete, incomplete, [check])]
    assert (both.verdict, both.reason) == ("missing", "work.flops is not computed")
    ((one,),) = [decide(complete, incomplete, [check])]
    assert (one.verdict, one.base, one.current) == ("inconclusive", 9_000_000, None)


def test_a_result_written_before_the_status_reads_as_complete() -> None:
    data = result_with(make_work()).to_dict()
    for field in ("status", "unknown_cost_share", "incomplete_reason"):
        del data["efficiency"]["work"][field]
    work = AuditResult.from_dict(data).efficiency.work
    assert work is not None and work.complete and work.incomplete_reason is None
