"""Efficiency findings need data behind them (issue 16): a best batch only when its
interval clears the others, a cut run says so with advice that never repeats the budget in
use, and a peak the model outran claims no percent of peak and draws no roofline."""

from __future__ import annotations

from dataclasses import replace

from harness.core.efficiency import EfficiencySection, Estimate, Throughput, ThroughputPoint
from harness.reports import render_report
from harness.reports.figures.efficiency import roofline_figure
from harness.reports.findings import Finding, Thresholds, rule_findings
from tests.reports.test_report_efficiency import make_run
from tests.reports.test_report_findings import quiet_result


def rules(result) -> dict[str, Finding]:
    return {f.rule: f for f in rule_findings(result, Thresholds())}


def with_runs(*runs, budget: str = "quick"):
    return quiet_result(efficiency=EfficiencySection("ok", budget=budget, runs=runs))


def point(batch: int, rate: float | None, low: float | None, high: float | None):
    estimate = Estimate(rate, low, high, insufficient=rate is None, min_samples=8)
    return ThroughputPoint(batch, estimate, latency_p50_ms=10.0, n=8 if rate else 1)


def sweep(*points: ThroughputPoint) -> Throughput:
    return Throughput(points=points, best_batch_size=1, stopped_because="budget limit")


# --- best batch -----------------------------------------------------------------------


def test_best_batch_names_a_batch_whose_interval_clears_the_others() -> None:
    run = make_run(throughput=sweep(point(1, 100, 95, 105), point(2, 180, 170, 190)))
    f = rules(with_runs(run))["efficiency.best_batch"]
    assert f.title.endswith("best at batch 2")
    assert "95% CI 170 to 190" in f.evidence


def test_no_best_batch_when_intervals_overlap() -> None:
    run = make_run(throughput=sweep(point(1, 100, 90, 150), point(2, 120, 110, 160)))
    assert "efficiency.best_batch" not in rules(with_runs(run))


def test_no_best_batch_from_insufficient_rates() -> None:
    # The quick budget on a slow model: no rate anywhere, so no "best at batch 1".
    points = [point(b, None, None, None) for b in (1, 2, 4, 8)]
    run = make_run(throughput=sweep(*points))
    assert "efficiency.best_batch" not in rules(with_runs(run))


def test_no_best_batch_from_a_single_rated_point() -> None:
    run = make_run(throughput=sweep(point(1, 100, 95, 105), point(2, None, None, None)))
    assert "efficiency.best_batch" not in rules(with_runs(run))


# --- runs cut short -------------------------------------------------------------------


def test_a_cut_run_says_so_and_advises_the_next_budget_up() -> None:
    run = make_run(notes=("the time limit cut sampling at 3 calls",))
    f = rules(with_runs(run, budget="quick"))["efficiency.run_cut_short"]
    assert "the time limit cut sampling at 3 calls" in f.evidence
    assert "--budget standard" in f.evidence and "quick" not in f.evidence


def test_no_advice_at_the_largest_budget() -> None:
    run = make_run(notes=("the time limit cut sampling at 3 calls",))
    f = rules(with_runs(run, budget="thorough"))["efficiency.run_cut_short"]
    assert "--budget" not in f.evidence


def test_an_uncut_run_draws_no_cut_finding() -> None:
    assert "efficiency.run_cut_short" not in rules(with_runs(make_run()))


# --- an unreliable peak ---------------------------------------------------------------


def test_a_peak_the_model_outran_claims_no_percent_and_draws_no_roofline() -> None:
    base = make_run()
    roof = replace(
        base.roofline,
        achieved_gflops=330.0,
        percent_of_peak=220.0,
        peak_reliable=False,
        peak_note="the model's 330 GFLOP/s exceeds the measured peak 150 GFLOP/s",
    )
    run = replace(base, roofline=roof)
    found = rules(with_runs(run))
    assert "exceeds the measured peak" in found["efficiency.peak_unreliable"].evidence
    assert "efficiency.low_percent_of_peak" not in found
    assert roofline_figure(run) is None


def test_a_reliable_peak_draws_its_roofline_and_no_unreliable_finding() -> None:
    run = make_run()
    assert "efficiency.peak_unreliable" not in rules(with_runs(run))
    assert roofline_figure(run) is not None


def test_the_report_says_a_run_is_partial_and_its_peak_unreliable() -> None:
    base = make_run(notes=("the time limit cut sampling at 3 calls",))
    roof = replace(base.roofline, achieved_gflops=330.0, percent_of_peak=220.0,
                   peak_reliable=False, peak_note="peak measured under load")  # fmt: skip
    html = render_report(with_runs(replace(base, roofline=roof)))
    assert "the time limit cut sampling at 3 calls" in html
    assert "peak measured under load" in html
    assert "220" not in html.split('id="efficiency-run0"')[1].split("</details>")[0]
