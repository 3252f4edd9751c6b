"""The summary above the fold: the verdict, then one card per part of the audit, each with
its headline figures and a link to its evidence; skipped and failed stages say so."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.efficiency import EfficiencySection
from harness.core.explanations import ExplanationsSection, MethodResult, SanityCheck
from harness.core.result import STAGE_NAMES
from harness.reports import render_report, summary
from harness.reports.summary import summary_cards
from tests.reports.test_report_efficiency import make_run
from tests.reports.test_report_render import make_result


def sanity(verdict: str) -> SanityCheck:
    passed = verdict == "pass"
    return SanityCheck(("fc",), (0.1,), 0.1, 0.5, passed, status=verdict)  # type: ignore[arg-type]


def explanations() -> ExplanationsSection:
    return ExplanationsSection(
        status="ok",
        modality="image",
        samples=8,
        methods=(
            MethodResult("saliency", "ok", sanity=sanity("fail")),
            MethodResult("integrated_gradients", "ok", sanity=sanity("pass")),
            MethodResult("occlusion", "ok", sanity=sanity("pass")),
            MethodResult("lime", "skipped", reason="not for images"),
        ),
    )


def cards_by_title(**overrides: object) -> dict[str, summary.Card]:
    return {card.title: card for card in summary_cards(make_result(**overrides))}


def figures(card: summary.Card) -> dict[str, tuple[str, str | None]]:
    return {h.label: (h.value, h.detail) for h in card.headlines}


def test_one_card_for_the_model_and_one_per_stage_in_order() -> None:
    cards = summary_cards(make_result())
    assert [c.title for c in cards] == ["Model", *(n.capitalize() for n in STAGE_NAMES)]
    assert [c.anchor for c in cards] == ["model", *(f"stage-{n}" for n in STAGE_NAMES)]


def test_efficiency_card_gives_p50_with_its_interval_throughput_memory() -> None:
    run = make_run()
    card = cards_by_title(efficiency=EfficiencySection("ok", runs=(run,)))["Efficiency"]
    shown = figures(card)
    p50 = run.latency.percentiles_ms["p50"]
    value, detail = shown["Latency p50"]
    assert value.endswith(" ms") and detail is not None
    assert "95% CI [" in detail and "700 calls on onnxruntime/cpu, batch 1" in detail
    assert p50.ci_low is not None and p50.ci_low <= float(value.split()[0]) <= p50.ci_high
    assert shown["Peak memory"][0] == "3.0 MiB"  # inference peak above the baseline
    assert shown["Best throughput"][0].endswith("samples/s")


def test_explanations_card_counts_the_methods_that_pass_their_checks() -> None:
    card = cards_by_title(explanations=explanations())["Explanations"]
    value, detail = figures(card)["Methods passing checks"]
    assert value == "2 of 4"
    assert detail == "randomisation sanity check; 1 fail, 1 skipped or failed"
    assert figures(card)["Explained"] == ("8 samples", "image input")


def test_a_skipped_or_failed_stage_says_so_with_its_reason() -> None:
    cards = cards_by_title()  # explanations failed, attention skipped in make_result
    assert cards["Explanations"].status == "failed" and not cards["Explanations"].headlines
    assert cards["Explanations"].note == "failed: onnx2torch lacks op Foo; gradient methods off"
    assert cards["Attention"].note == "skipped: skipped by --skip attention"


def test_a_stage_without_a_builder_still_gets_a_card(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new stage adds one builder to STAGE_CARDS; until then its card says it ran.
    monkeypatch.delitem(summary.STAGE_CARDS, "explanations")
    card = cards_by_title(explanations=explanations())["Explanations"]
    assert card.status == "ok" and card.headlines == ()
    assert card.note == "ran; its section below holds the results"


def test_cards_sit_above_the_fold_before_the_contents_and_link_to_evidence() -> None:
    result = make_result(explanations=explanations())
    html = render_report(result)
    start = html.index('<section id="summary"')
    cards = html[start : html.index("</section>", start)]
    assert html.index('id="verdict"') < html.index('id="summary"') < html.index('class="toc"')
    for anchor in ("model", "stage-efficiency", "stage-explanations", "stage-attention"):
        assert f'<a href="#{anchor}">' in cards
    assert "<strong>2 of 4</strong>" in cards


def test_parameters_are_written_with_thousands_separators() -> None:
    result = make_result()
    model = dataclasses.replace(result.model, parameter_count=1_234_567)
    card = summary_cards(dataclasses.replace(result, model=model))[0]
    assert figures(card)["Parameters"][0] == "1,234,567"
