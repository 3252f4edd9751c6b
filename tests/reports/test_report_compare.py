"""The A/B comparison page: the gate's verdicts, findings and attribution changes, escaped
and offline, from two ``AuditResult``s alone."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from harness.core.comparison import decide, default_threshold
from harness.core.efficiency import EfficiencySection
from harness.core.explanations import ExplanationsSection, SampleInput
from harness.core.headline import headline_metrics
from harness.core.result import AuditResult
from harness.reports.attribution_agreement import rank, spearman, top_overlap
from harness.reports.compare import (
    compare,
    comparison_figures,
    finding_subject,
    render_comparison,
    verdict_line,
)
from harness.reports.findings import Finding, findings
from tests.reports.test_report_efficiency import (
    latency_samples,
    make_latency,
    make_run,
    make_work,
)
from tests.reports.test_report_explanations import SHAPES, make_section
from tests.reports.test_report_render import (
    XSS_ATTR,
    XSS_SCRIPT,
    StructureChecker,
    make_environment,
    make_model,
    make_result,
    section,
)

PLOTLY_MARKER = "* plotly.js v"  # the bundle's licence header, once per copy
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
SAMPLES = latency_samples(600, seed=3)  # one measurement: split, it is a true A/A pair


# --- hand-built pairs ------------------------------------------------------------------------


def explanations(**overrides: Any) -> ExplanationsSection:
    """The image section of the explanations tests, with its two samples' inputs."""
    shape = SHAPES["image"]
    size = int(np.prod(shape))
    inputs = tuple(
        SampleInput(i, shape, tuple(float(v) for v in np.linspace(0, 1, size) + i), shape)
        for i in (0, 3)
    )
    return make_section("image", inputs=inputs, **overrides)


def result(samples: tuple[float, ...] = SAMPLES[0::2], **overrides: Any) -> AuditResult:
    run = dataclasses.replace(make_run(), latency=make_latency(samples))
    fields: dict[str, Any] = {
        "efficiency": EfficiencySection("ok", budget="quick", runs=(run,), work=make_work()),
        "explanations": explanations(),
    }
    fields.update(overrides)
    return make_result(**fields)


@pytest.fixture(scope="module")
def base() -> AuditResult:
    return result()


@pytest.fixture(scope="module")
def slower() -> AuditResult:
    """B: every call of A taking 1.5 times as long."""
    return result(tuple(1.5 * x for x in SAMPLES[0::2]))


def verdicts(a: AuditResult, b: AuditResult) -> dict[str, str]:
    return {row.name: row.outcome.verdict for g in compare(a, b).groups for row in g.rows}


# --- metrics ---------------------------------------------------------------------------------


def test_a_true_a_a_pair_shows_no_significant_change(base: AuditResult) -> None:
    comparison = compare(base, result(SAMPLES[1::2]))  # the odd calls of the same run
    found = {row.name: row.outcome.verdict for g in comparison.groups for row in g.rows}
    assert found["latency.p50"] == "pass"
    assert not {"regression", "improvement"} & set(found.values())
    assert comparison.verdict.startswith("0 regressions, 0 improvements")


def test_every_metric_both_hold_is_a_row_grouped_by_family(base: AuditResult) -> None:
    comparison = compare(base, base)
    run, model = comparison.groups
    assert run.run == "onnxruntime/cpu" and model.run is None
    assert [heading for heading, _ in run.families] == [
        "Latency", "Throughput", "Memory", "Cold start",
    ]  # fmt: skip
    assert [heading for heading, _ in model.families] == ["Work", "Explanations"]
    names = {row.name for g in comparison.groups for row in g.rows}
    assert names == set(headline_metrics(base))


def test_a_slower_b_is_a_latency_regression(base: AuditResult, slower: AuditResult) -> None:
    found = verdicts(base, slower)
    assert found["latency.p50"] == "regression"
    assert found["latency.mean"] == "regression"
    assert found["throughput.max"] == "pass"  # the sweep did not change
    html = render_comparison(base, slower)
    row = re.search(r'<tr class="verdict-(\w+)">\s*<td><code>latency\.<wbr>p50</code>', html)
    assert row is not None and row.group(1) == "regression"
    assert compare(base, slower).verdict.startswith(
        f"{sum(v == 'regression' for v in found.values())} regressions"
    )


def test_verdicts_are_the_gates_at_default_thresholds(base: AuditResult, slower: AuditResult):
    a, b = headline_metrics(base), headline_metrics(slower)
    checks = [default_threshold(name) for name in a if name in b]
    expected = {o.check.metric: (o.verdict, o.p_adjusted) for o in decide(a, b, checks)}
    rows = [row for g in compare(base, slower).groups for row in g.rows]
    assert {r.name: (r.outcome.verdict, r.outcome.p_adjusted) for r in rows} == expected


def test_change_is_shown_with_its_interval_and_the_holm_p(base, slower) -> None:
    run = compare(base, slower).groups[0]
    p50 = next(row for row in run.rows if row.name == "latency.p50")
    assert p50.change_text == "+50.0%"
    assert p50.change_ci is not None and re.fullmatch(r"\[\+\d+\.\d%, \+\d+\.\d%\]", p50.change_ci)
    assert p50.p_text != "—" and p50.outcome.p_adjusted is not None
    mean = next(row for row in run.rows if row.name == "latency.mean")
    low, high = mean.outcome.change_ci  # B is A x 1.5 call by call: the means' ratio is 1.5
    assert low <= 0.5 <= high and high - low < 0.2


def test_verdict_line_counts_each_verdict() -> None:
    counts = {"regression": 2, "improvement": 1, "pass": 14, "inconclusive": 3, "missing": 0}
    assert verdict_line(counts) == "2 regressions, 1 improvement, 14 unchanged, 3 inconclusive"


def test_runs_measured_by_one_side_only_are_named_not_compared(base: AuditResult) -> None:
    torch_run = dataclasses.replace(make_run(), backend="torch")
    other = result(efficiency=EfficiencySection("ok", runs=(torch_run,), work=make_work()))
    comparison = compare(base, other)
    assert comparison.unshared_runs == (("onnxruntime/cpu", "A only"), ("torch/cpu", "B only"))
    assert [g.run for g in comparison.groups] == [None]
    assert "was measured by A only" in render_comparison(base, other)


def test_a_skipped_efficiency_stage_leaves_the_model_metrics(base: AuditResult) -> None:
    bare = result(efficiency=EfficiencySection("skipped", "skipped by --skip efficiency"))
    comparison = compare(base, bare)
    assert [g.run for g in comparison.groups] == [None]
    assert comparison_figures(base, bare) == {}
    assert PLOTLY_MARKER not in render_comparison(base, bare)


# --- findings --------------------------------------------------------------------------------


def with_sanity(section: ExplanationsSection, passed: dict[str, bool]) -> ExplanationsSection:
    methods = tuple(
        dataclasses.replace(m, sanity=dataclasses.replace(m.sanity, passed=passed[m.name]))
        if m.name in passed and m.sanity is not None
        else m
        for m in section.methods
    )
    return dataclasses.replace(section, methods=methods)


def test_identical_results_change_no_finding(base: AuditResult) -> None:
    comparison = compare(base, base)
    assert comparison.findings == ()
    assert comparison.findings_unchanged == len(findings(base))


def test_new_and_resolved_findings_are_matched_by_rule_and_subject(base: AuditResult) -> None:
    # A: GuidedBackprop fails the sanity check; B: it passes, IntegratedGradients fails.
    flipped = with_sanity(base.explanations, {"GuidedBackprop": True, "IntegratedGradients": False})
    comparison = compare(base, result(explanations=flipped))
    changes = {(c.change, c.rule, c.shown.title.split()[0]) for c in comparison.findings}
    assert changes == {
        ("new", "explanations.sanity_failed", "IntegratedGradients"),
        ("resolved", "explanations.sanity_failed", "GuidedBackprop"),
    }
    page = section(render_comparison(base, result(explanations=flipped)), "findings")
    assert "IntegratedGradients fails the randomisation sanity check" in page


def test_subject_leaves_out_measured_numbers_and_keeps_identifiers() -> None:
    def subject(title: str) -> str:
        return finding_subject(Finding("info", "rule", title, "", "x"))

    assert subject("peak memory 3.14x the weights on onnxruntime/cpu") == (
        "peak memory # the weights on onnxruntime/cpu"
    )
    assert subject("saliency fails (Spearman 0.93 > 0.5)") == "saliency fails (Spearman # > #)"
    assert subject("padding tokens receive 12% of attention in layer 3") == (
        "padding tokens receive # of attention in layer 3"
    )
    assert subject("2 redundant heads") == "# redundant heads"
    assert (
        subject("p99 latency is insufficiently sampled") == "p99 latency is insufficiently sampled"
    )


# --- attribution agreement -------------------------------------------------------------------


def test_identical_attributions_agree_fully(base: AuditResult) -> None:
    agreement = compare(base, base).attribution
    assert agreement.notes == ()
    assert [row.method for row in agreement.rows] == [
        m.name for m in base.explanations.methods if m.status == "ok"
    ]
    for row in agreement.rows:
        assert (row.samples, row.spearman, row.top_overlap, row.note) == (2, 1.0, 1.0, None)


def edited_inputs(section: ExplanationsSection, samples: set[int]) -> ExplanationsSection:
    inputs = tuple(
        dataclasses.replace(s, values=(s.values[0] + 1.0, *s.values[1:]))
        if s.sample_index in samples
        else s
        for s in section.inputs
    )
    return dataclasses.replace(section, inputs=inputs)


def test_samples_whose_inputs_differ_are_skipped(base: AuditResult) -> None:
    one = compare(base, result(explanations=edited_inputs(base.explanations, {0}))).attribution
    assert one.notes == ("Inputs differ on sample(s) 0: those are skipped.",)
    assert all(row.samples == 1 and row.spearman == 1.0 for row in one.rows)
    both = compare(base, result(explanations=edited_inputs(base.explanations, {0, 3})))
    for row in both.attribution.rows:
        assert (row.samples, row.spearman, row.top_overlap) == (0, None, None)
        assert row.note == "inputs differ on sample(s) 0, 3"
    page = section(render_comparison(base, result(explanations=edited_inputs(
        base.explanations, {0, 3}))), "attributions")  # fmt: skip
    assert "Inputs differ on sample(s) 0, 3" in page


def test_results_without_explanations_say_so(base: AuditResult) -> None:
    bare = result(explanations=ExplanationsSection("skipped", "skipped by --skip explanations"))
    assert compare(base, bare).attribution.notes == ("B holds no explanations.",)


def test_rank_averages_ties() -> None:
    np.testing.assert_array_equal(rank(np.array([3.0, 1.0, 3.0, 2.0])), [2.5, 0.0, 2.5, 1.0])


def test_spearman_and_top_overlap_by_hand() -> None:
    x = np.arange(10.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert spearman(x, np.ones(10)) is None  # constant: undefined
    assert spearman(np.array([1.0]), np.array([2.0])) is None
    # top 10% of 10 features is 1: the largest of each
    assert top_overlap(x, x) == 1.0
    assert top_overlap(x, x[::-1].copy()) == 0.0
    assert top_overlap(np.arange(20.0), np.r_[np.arange(18.0), 19.0, 18.0]) == 1.0
    assert top_overlap(x, np.zeros(10)) is None


# --- the page --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html(base: AuditResult, slower: AuditResult) -> str:
    return render_comparison(base, slower)


def test_page_is_complete_balanced_and_offline(html: str) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert html.count(PLOTLY_MARKER) == 1
    assert re.search(r"<script[^>]*\ssrc\s*=", html, re.IGNORECASE) is None
    # Plotly's bundle holds URLs in its strings (never fetched); the page around it none.
    head, bundle_and_rest = html.split("<script>", 1)
    page = head + bundle_and_rest.split("</script>", 1)[1]
    assert EXTERNAL.search(page) is None
    assert "http://" not in page and "https://" not in page


def test_figures_overlay_a_and_b_with_captions(base: AuditResult, slower: AuditResult) -> None:
    figures = comparison_figures(base, slower)
    assert sorted(figures) == ["compare-run0-latency", "compare-run0-throughput"]
    for key, figure in figures.items():
        assert f'<figure id="fig-{key}">' in figure and "<figcaption>" in figure
        assert "Plotly.newPlot" in figure
        assert '"name":"A' in figure and '"name":"B' in figure


def test_verdict_comes_first_then_the_table(html: str) -> None:
    main = html[html.index("<main>") :]
    assert main.index('class="verdict"') < main.index('id="metrics"')


def test_same_model_and_environment_differences_are_said(base: AuditResult) -> None:
    moved = result(environment=make_environment(cpu_model="Intel Xeon"), samples=SAMPLES[1::2])
    page = render_comparison(base, moved)
    assert "The same model file (SHA-256 9f86d081884c)" in page
    env = section(page, "environment")
    assert "cpu_model" in env and "Intel Xeon" in env
    assert "measures the machine too" in env
    other_file = result(model=make_model(sha256="0" * 64))
    assert "The same model from another file" in render_comparison(base, other_file)
    other = result(model=make_model(sha256="0" * 64, name="another-cnn"))
    assert "<strong>Two different models</strong>" in render_comparison(base, other)


def test_model_provided_strings_are_escaped(base: AuditResult) -> None:
    hostile = f"{XSS_SCRIPT} {XSS_ATTR}"
    model = make_model(name=hostile, source=hostile, metadata={hostile: hostile})
    b = result(model=model, environment=make_environment(cpu_model=hostile))
    page = render_comparison(base, b)
    assert XSS_SCRIPT not in page and XSS_ATTR not in page
    assert str(escape(hostile)) in page
    # The explanations fixture names a method "<script>alert(1)</script>": also escaped.
    assert "explanations.&lt;script&gt;alert(1)&lt;/script&gt;" in page
