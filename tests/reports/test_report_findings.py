"""The verdict: each rule firing and not, the order, escaping, and its place on the page."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from harness.core.attention import AttentionSection
from harness.core.efficiency import EfficiencySection, MemoryPeaks
from harness.core.explanations import ExplanationsSection, GroundTruthScore, MethodResult
from harness.core.result import AuditResult, StageSection
from harness.core.twin import ConversionReport
from harness.reports import render_report
from harness.reports.findings import (
    RULES,
    SEVERITIES,
    Finding,
    Thresholds,
    findings,
    rule_findings,
    verdict,
)
from tests.core.test_core_attention_schema import full_section
from tests.reports.test_report_efficiency import make_efficiency, make_run
from tests.reports.test_report_explanations import make_section
from tests.reports.test_report_privacy import STRONG, attack, privacy_section, quiet_privacy
from tests.reports.test_report_render import (
    StructureChecker,
    make_config,
    make_inputs,
    make_result,
)

XSS = "<script>alert(1)</script>"


def rules(result: AuditResult, thresholds: Thresholds | None = None) -> dict[str, Finding]:
    """Each rule's own finding by id (measurement notes not merged)."""
    return {f.rule: f for f in rule_findings(result, thresholds or Thresholds())}


def quiet_result(**overrides: object) -> AuditResult:
    """Nothing to find: no warnings, no failed stage, the others skipped by --skip."""
    fields: dict[str, object] = {
        "inputs": make_inputs(warnings=()),
        "efficiency": EfficiencySection("skipped", "skipped by --skip"),
        "explanations": ExplanationsSection("skipped", "skipped by --skip"),
        "attention": AttentionSection("skipped", "skipped by --skip attention"),
    }
    fields.update(overrides)
    return make_result(**fields)


def test_a_quiet_result_has_no_findings() -> None:
    assert findings(quiet_result()) == ()


def test_findings_are_frozen_and_thresholds_documented_defaults() -> None:
    finding = findings(make_result())[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.title = "x"  # type: ignore[misc]
    t = Thresholds()
    assert (t.latency_cv_max, t.memory_to_weights_max, t.percent_of_peak_min) == (0.5, 3.0, 5.0)
    assert t.ground_truth_margin == 0.1
    assert len({rule.__name__ for rule in RULES}) == len(RULES)


# --- stages and inputs ----------------------------------------------------------------


def test_failed_stage_is_a_fail_with_its_reason() -> None:
    found = rules(quiet_result(explanations=StageSection("failed", "onnx2torch lacks op Foo")))
    f = found["stage.failed"]
    assert (f.severity, f.evidence, f.where) == (
        "fail",
        "onnx2torch lacks op Foo",
        "stage-explanations",
    )


def test_skipped_stage_is_info_unless_by_skip() -> None:
    result = quiet_result(
        config=make_config(skip=()), attention=AttentionSection("skipped", "no attention found")
    )
    f = rules(result)["stage.skipped"]
    assert (f.severity, f.evidence, f.where) == ("info", "no attention found", "stage-attention")
    # Named in config.skip, whatever the reason says.
    assert "stage.skipped" not in rules(
        quiet_result(attention=AttentionSection("skipped", "by request"))
    )


def test_input_defaults_warn_with_their_count() -> None:
    found = rules(quiet_result(inputs=make_inputs(warnings=("a", "b"))))
    f = found["inputs.defaults_chosen"]
    assert (f.severity, f.title, f.evidence) == (
        "warn",
        "2 input defaults chosen by the harness",
        "a; b",
    )


# --- efficiency -----------------------------------------------------------------------


def efficiency_result(**run_overrides: object) -> AuditResult:
    run = make_run(**run_overrides)
    section = EfficiencySection("ok", runs=(run,))
    return quiet_result(efficiency=section)


def test_efficiency_defaults_of_the_builder() -> None:
    """700 samples: every percentile sufficient, settled; memory 3x weights (not above);
    3% of peak (below 5%); a sweep best at batch 8."""
    found = rules(efficiency_result())
    assert set(found) == {"efficiency.best_batch", "efficiency.low_percent_of_peak"}
    assert found["efficiency.best_batch"].title.endswith("best at batch 8")
    assert found["efficiency.low_percent_of_peak"].where == "efficiency-run0"
    assert "4.5 GFLOP/s of 150 GFLOP/s (3 < 5%)" in found["efficiency.low_percent_of_peak"].evidence


def test_insufficient_percentile_names_n_and_min_samples() -> None:
    found = rules(quiet_result(efficiency=make_efficiency()))
    f = found["efficiency.p99_insufficient"]
    assert f.severity == "info"
    assert "torch/cpu" in f.title
    assert f.evidence == "n = 100 calls < min_samples = 662"
    assert f.where == "efficiency-run1"
    assert "efficiency.p50_insufficient" not in found
    # The short run is not settled either.
    assert found["efficiency.warmup_unsettled"].where == "efficiency-run1"


def test_noisy_latency_warns() -> None:
    result = efficiency_result()
    latency = replace(result.efficiency.runs[0].latency, cv=0.62)
    noisy = quiet_result(efficiency=EfficiencySection("ok", runs=(make_run(latency=latency),)))
    f = rules(noisy)["efficiency.latency_noisy"]
    assert f.severity == "warn" and f.evidence.startswith("CV 0.62 > 0.5")
    assert "efficiency.latency_noisy" not in rules(noisy, Thresholds(latency_cv_max=0.7))


MIB = 1024**2


def test_memory_far_above_the_weights_is_info() -> None:
    memory = MemoryPeaks("vmhwm", 0, 0, inference_peak_bytes=2850 * MIB, weight_bytes=100 * MIB)
    f = rules(efficiency_result(memory=memory))["efficiency.memory_vs_weights"]
    assert f.severity == "info"
    assert f.title.startswith("peak memory 28.5× the weights")
    # No weights, no ratio; no memory pass, nothing.
    zero = MemoryPeaks("vmhwm", 0, 0, inference_peak_bytes=28_500, weight_bytes=0)
    assert "efficiency.memory_vs_weights" not in rules(efficiency_result(memory=zero))
    assert "efficiency.memory_vs_weights" not in rules(efficiency_result(memory=None))


def test_no_memory_ratio_for_small_weights_whose_peak_is_the_runtime() -> None:
    """The issue's case: a 1.7 MB model whose 58 MB peak is onnxruntime's arena, 34x."""
    small = MemoryPeaks("vmhwm", 0, 0, inference_peak_bytes=58_000_000, weight_bytes=1_700_000)
    assert "efficiency.memory_vs_weights" not in rules(efficiency_result(memory=small))


def test_no_sweep_no_roofline_no_findings() -> None:
    found = rules(efficiency_result(throughput=None, roofline=None))
    assert found == {}


# --- explanations ---------------------------------------------------------------------


def explanations_result(**overrides: object) -> AuditResult:
    return quiet_result(explanations=make_section("image", **overrides))


def test_sanity_check_failure_warns_about_the_method_not_the_model() -> None:
    found = [f for f in findings(explanations_result()) if f.rule == "explanations.sanity_failed"]
    assert len(found) == 1
    assert found[0].severity == "warn"
    assert found[0].title == (
        "GuidedBackprop fails the randomisation sanity check (Spearman 0.93 > 0.5): its "
        "explanations cannot be trusted; a fault of the method, not the model"
    )
    assert found[0].where == "stage-explanations"
    # Alone, it leaves the model passing with warnings: it judges the method.
    assert verdict(explanations_result()).status == "pass with warnings"


def test_ground_truth_not_above_random_warns() -> None:
    section = make_section("image")
    weak = replace(
        section.methods[0],
        name="Saliency",
        ground_truth=GroundTruthScore(auroc=0.55, top_k_precision=0.3, samples=2),
    )
    result = quiet_result(explanations=replace(section, methods=(weak, *section.methods[1:])))
    weak_findings = [f for f in findings(result) if f.rule == "explanations.ground_truth_weak"]
    assert [f.title for f in weak_findings] == ["Saliency barely finds the truly relevant features"]
    assert "AUROC 0.55 vs random 0.5 (margin 0.05 ≤ 0.1, 2 samples)" in weak_findings[0].evidence
    # The builder's methods score 0.9, 0.8, 0.7 (all > 0.6): none flagged.
    assert "explanations.ground_truth_weak" not in rules(explanations_result())


def test_gradient_methods_skipped_for_the_twin_warn_once_per_reason() -> None:
    why = "onnx2torch lacks LSTM"
    methods = (
        MethodResult("Saliency", "skipped", reason=f"Saliency needs gradients: {why}"),
        MethodResult(
            "IntegratedGradients", "skipped", reason=f"IntegratedGradients needs gradients: {why}"
        ),
        MethodResult("Lime", "skipped", reason="does not apply to token ids"),
    )
    found = [
        f
        for f in findings(explanations_result(methods=methods))
        if f.rule == "explanations.gradients_skipped"
    ]
    assert len(found) == 1
    assert found[0].title == f"gradient methods skipped: {why}"
    assert found[0].evidence == "2 skipped: Saliency, IntegratedGradients"


@pytest.mark.parametrize("status", ["mismatch", "unconvertible"])
def test_an_unusable_twin_warns_with_its_reason(status: str) -> None:
    conversion = ConversionReport(
        status,  # type: ignore[arg-type]
        "onnx2torch lacks LSTM",
        rtol=1e-3,
        atol=1e-5,
        blocking_ops=("ai.onnx.LSTM-14",),
    )
    f = rules(explanations_result(conversion=conversion))[f"explanations.twin_{status}"]
    assert f.severity == "warn"
    assert f.evidence.startswith("onnx2torch lacks LSTM; blocking ops: ai.onnx.LSTM-14")


def test_a_converted_twin_and_ok_methods_are_quiet() -> None:
    found = rules(explanations_result())
    assert not any(rule.startswith("explanations.twin_") for rule in found)
    assert not any(rule == "explanations.gradients_skipped" for rule in found)


def test_failed_method_warns() -> None:
    found = [f for f in findings(explanations_result()) if f.rule == "explanations.method_failed"]
    assert [(f.severity, f.title, f.evidence) for f in found] == [
        ("warn", "DeepLift failed", "onnx2torch lacks LSTM")
    ]


# --- attention ------------------------------------------------------------------------


def test_attention_findings_of_the_full_section() -> None:
    found = rules(quiet_result(attention=full_section()))
    f = found["attention.padding_attended"]
    assert f.severity == "warn"
    assert f.title == "padding tokens receive 30% of attention in layer 1"
    assert found["attention.fused_skipped"].evidence == "com.microsoft.Attention ×1"
    assert found["attention.redundant_heads"].title == "1 redundant head"
    assert found["attention.dominant_heads"].evidence.startswith("L0H0")
    assert "attention.verification_failed" not in found


def test_attention_verification_failures_are_fails() -> None:
    section = full_section()
    layer = section.layers[0]
    broken = replace(
        layer,
        verification=replace(
            layer.verification,
            rows_sum_to_one=False,
            max_row_sum_error=0.25,
            recompute="mismatch",
            recompute_max_abs_diff=0.1,
        ),
    )
    result = quiet_result(attention=replace(section, layers=(broken, section.layers[1])))
    f = rules(result)["attention.verification_failed"]
    assert f.severity == "fail"
    assert "rows do not sum to 1 (max error 0.25)" in f.evidence
    assert "does not match (max |diff| 0.1)" in f.evidence


def test_attention_without_padding_fusion_or_ablation_is_quiet() -> None:
    section = full_section()
    clean = tuple(
        replace(
            layer,
            verification=replace(
                layer.verification, padding_attended=False, max_padding_weight=None
            ),
        )
        for layer in section.layers
    )
    result = quiet_result(attention=replace(section, layers=clean, fused_ops=(), ablation=None))
    assert findings(result) == ()


# --- defensiveness, order -------------------------------------------------------------


@pytest.mark.parametrize("status", ["skipped", "failed"])
def test_bare_sections_never_raise(status: str) -> None:
    result = make_result(
        efficiency=EfficiencySection(status, "x"),  # type: ignore[arg-type]
        explanations=ExplanationsSection(status, "x"),  # type: ignore[arg-type]
        attention=AttentionSection(status, "x"),  # type: ignore[arg-type]
    )
    found = findings(result)
    assert all(f.rule.startswith(("stage.", "inputs.")) for f in found)


def test_sorted_fail_then_warn_then_info_then_the_measurement() -> None:
    result = make_result(
        efficiency=make_efficiency(),
        explanations=StageSection("failed", "boom"),
        attention=full_section(),
    )
    found = findings(result)
    about_model, last = found[:-1], found[-1]
    severities = [f.severity for f in about_model]
    assert set(severities) == set(SEVERITIES)
    assert severities == sorted(severities, key=SEVERITIES.index)
    assert last.rule == "efficiency.measurement"
    assert [f.rule for f in found].count("efficiency.measurement") == 1


# --- on the page ----------------------------------------------------------------------


def test_findings_come_first_and_are_linked_from_the_contents() -> None:
    html = render_report(make_result(attention=full_section()))
    assert '<li><a href="#findings">Findings</a>' in html
    toc = html[html.index('<nav class="toc"') : html.index("</nav>")]
    assert toc.index('href="#findings"') < toc.index('href="#model"')
    assert '<section id="findings">\n<details open>' in html
    assert html.index('<section id="findings">') < html.index('<section id="model">')
    block = html[html.index('<section id="findings">') : html.index('<section id="model">')]
    assert '<span class="status status-failed">fail</span>' in block
    # The Where column names the section, not its anchor id.
    assert '<a href="#stage-attention">Attention</a>' in block
    assert "<code>attention.padding_attended</code>" in block
    checker = StructureChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []


def test_no_findings_says_so() -> None:
    html = render_report(quiet_result())
    block = html[html.index('<section id="findings">') : html.index('<section id="model">')]
    assert "No findings." in block
    assert "<table" not in block


def test_reasons_are_escaped() -> None:
    html = render_report(make_result(explanations=StageSection("failed", XSS)))
    block = html[html.index('<section id="findings">') : html.index('<section id="model">')]
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block


# --- findings that are true -----------------------------------------------------------


def test_measurement_notes_are_one_finding_after_those_about_the_model() -> None:
    result = quiet_result(
        efficiency=make_efficiency(), inputs=make_inputs(warnings=("batch defaulted to 1",))
    )
    found = findings(result)
    assert found[0].rule == "inputs.defaults_chosen"
    assert [f.rule for f in found].count("efficiency.measurement") == 1
    note = found[-1]
    assert note.rule == "efficiency.measurement"
    assert not {"efficiency.p99_insufficient", "efficiency.warmup_unsettled"} & {
        f.rule for f in found
    }
    assert note.severity == "info" and note.where == "stage-efficiency"
    # Both notes of the short run, each with its evidence, in one finding.
    assert "p99 latency is insufficiently sampled on torch/cpu" in note.title
    assert "warm-up did not settle on torch/cpu" in note.title
    assert "n = 100 calls < min_samples = 662" in note.evidence
    # The notes alone do not make warnings of the verdict.
    assert verdict(quiet_result(efficiency=make_efficiency())).status == "pass"


def test_no_measurement_finding_from_a_clean_measurement() -> None:
    assert "efficiency.measurement" not in {f.rule for f in findings(efficiency_result())}


def test_no_head_claims_from_one_sample() -> None:
    section = full_section()
    one = replace(section, ablation=replace(section.ablation, samples=1))
    found = rules(quiet_result(attention=one))
    assert "attention.redundant_heads" not in found
    assert "attention.dominant_heads" not in found
    assert "attention.redundant_heads" in rules(quiet_result(attention=section))


def cut_short_result() -> AuditResult:
    section = make_section("image")
    first = replace(section.methods[0], status="incomplete", reason="deadline")
    return quiet_result(explanations=replace(section, methods=(first, *section.methods[1:])))


def test_methods_cut_short_by_the_deadline_make_the_audit_incomplete() -> None:
    result = cut_short_result()
    f = rules(result)["explanations.methods_cut_short"]
    assert f.severity == "warn"
    assert result.explanations.methods[0].name in f.title
    v = verdict(result)
    assert v.status == "incomplete"
    assert v.deciding[0].rule == "explanations.methods_cut_short"
    assert "explanations.methods_cut_short" not in rules(explanations_result())


# Each rule id, and a result with its stage ok (or data present) where it must NOT fire.
def _clean_attention() -> AttentionSection:
    section = full_section()
    layers = tuple(
        replace(
            layer,
            verification=replace(
                layer.verification, padding_attended=False, max_padding_weight=None
            ),
        )
        for layer in section.layers
    )
    return replace(section, layers=layers, fused_ops=(), ablation=None)


def _without_failed_methods() -> AuditResult:
    section = make_section("image")
    ok = tuple(m for m in section.methods if m.status != "failed")
    return quiet_result(explanations=replace(section, methods=ok))


# Each rule (by function name), the id it yields, and a result with its stage ok (or its
# data present) where it must NOT fire.
MUST_NOT_FIRE = {
    "membership_leakage": (
        "privacy.membership_leakage",
        lambda: quiet_result(privacy=quiet_privacy()),
    ),
    "no_membership_leakage_found": (
        "privacy.no_leakage_found",
        lambda: quiet_result(privacy=privacy_section(attack("loss", STRONG))),
    ),
    "privacy_point_not_estimable": (
        "privacy.low_fpr_not_estimable",
        lambda: quiet_result(privacy=quiet_privacy()),
    ),
    "class_exposed": ("privacy.class_exposed", lambda: quiet_result(privacy=quiet_privacy())),
    "stage_failed": ("stage.failed", lambda: quiet_result(explanations=make_section("image"))),
    "stage_skipped": ("stage.skipped", quiet_result),
    "input_defaults": ("inputs.defaults_chosen", quiet_result),
    "percentile_insufficient": ("efficiency.p99_insufficient", efficiency_result),
    "latency_noisy": ("efficiency.latency_noisy", efficiency_result),
    "warmup_unsettled": ("efficiency.warmup_unsettled", efficiency_result),
    "run_cut_short": ("efficiency.run_cut_short", efficiency_result),
    "memory_vs_weights": ("efficiency.memory_vs_weights", efficiency_result),
    "best_batch": ("efficiency.best_batch", lambda: efficiency_result(throughput=None)),
    "work_incomplete": ("efficiency.work_incomplete", efficiency_result),
    "low_percent_of_peak": (
        "efficiency.low_percent_of_peak",
        lambda: efficiency_result(roofline=None),
    ),
    "peak_unreliable": ("efficiency.peak_unreliable", efficiency_result),
    "sanity_failed": ("explanations.sanity_failed", lambda: _sanity_passing()),
    "ground_truth_weak": ("explanations.ground_truth_weak", explanations_result),
    "gradients_skipped": ("explanations.gradients_skipped", explanations_result),
    "twin_unusable": ("explanations.twin_mismatch", explanations_result),
    "method_failed": ("explanations.method_failed", lambda: _without_failed_methods()),
    "methods_cut_short": ("explanations.methods_cut_short", explanations_result),
    "attention_verification_failed": (
        "attention.verification_failed",
        lambda: quiet_result(attention=full_section()),
    ),
    "padding_attended": (
        "attention.padding_attended",
        lambda: quiet_result(attention=_clean_attention()),
    ),
    "fused_attention": (
        "attention.fused_skipped",
        lambda: quiet_result(attention=_clean_attention()),
    ),
    "redundant_heads": (
        "attention.redundant_heads",
        lambda: quiet_result(attention=_clean_attention()),
    ),
    "dominant_heads": (
        "attention.dominant_heads",
        lambda: quiet_result(attention=_clean_attention()),
    ),
}


def _sanity_passing() -> AuditResult:
    section = make_section("image")
    passing = tuple(
        replace(m, sanity=replace(m.sanity, status="pass", passed=True, final_correlation=0.1))
        if m.sanity is not None
        else m
        for m in section.methods
    )
    return quiet_result(explanations=replace(section, methods=passing))


@pytest.mark.parametrize("name", sorted(MUST_NOT_FIRE))
def test_every_rule_has_a_case_where_it_must_not_fire(name: str) -> None:
    rule_id, build = MUST_NOT_FIRE[name]
    assert rule_id not in rules(build())


def test_every_rule_is_in_the_must_not_fire_table() -> None:
    """A rule added without its quiet case fails here."""
    assert {rule.__name__ for rule in RULES} == set(MUST_NOT_FIRE)


# --- the verdict ----------------------------------------------------------------------


def test_verdict_pass_when_nothing_is_found() -> None:
    v = verdict(quiet_result())
    assert (v.status, v.deciding) == ("pass", ())
    assert v.counts == {"fail": 0, "warn": 0, "info": 0}


def test_verdict_pass_with_warnings_names_the_warnings() -> None:
    v = verdict(quiet_result(inputs=make_inputs(warnings=("a", "b"))))
    assert v.status == "pass with warnings"
    assert [d.rule for d in v.deciding] == ["inputs.defaults_chosen"]
    assert v.counts["warn"] == 1


def test_verdict_incomplete_when_a_stage_failed() -> None:
    v = verdict(quiet_result(explanations=StageSection("failed", "boom")))
    assert v.status == "incomplete"
    assert v.deciding[0].rule == "stage.failed"


def test_a_model_fail_outranks_an_incomplete_audit() -> None:
    section = full_section()
    layer = section.layers[0]
    broken = replace(layer, verification=replace(layer.verification, shape_ok=False))
    result = quiet_result(
        attention=replace(section, layers=(broken, section.layers[1])),
        explanations=StageSection("failed", "boom"),
    )
    v = verdict(result)
    assert v.status == "fail"
    assert [d.rule for d in v.deciding] == ["attention.verification_failed"]
    assert v.counts["fail"] == 2  # the model's and the failed stage's


def test_the_verdict_is_the_first_thing_on_the_page() -> None:
    result = quiet_result(inputs=make_inputs(warnings=("a",)))
    html = render_report(replace(result, verdict=verdict(result)))
    line = html[html.index('<p id="verdict"') : html.index("</p>", html.index('<p id="verdict"'))]
    assert html.index('id="verdict"') < html.index('href="#findings"')
    assert "pass with warnings" in line and "(0 fail, 1 warn, 0 info)" in line
    assert "1 input default chosen by the harness" in line


def test_a_result_without_a_verdict_says_none_was_recorded() -> None:
    html = render_report(quiet_result())
    assert "no verdict recorded" in html
