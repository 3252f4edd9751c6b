"""The privacy section on the page, its findings and its gate metrics, from hand-built
sections (no model runs here)."""

from __future__ import annotations

import re

from harness.core.explanations import ExplanationsSection
from harness.core.headline import headline_metrics
from harness.core.privacy import (
    AttackResult,
    ClassSlice,
    ExposedRecord,
    OperatingPoint,
    PrivacySection,
    RocCurve,
    Separation,
)
from harness.reports import render_report
from harness.reports.findings import Thresholds, rule_findings
from tests.reports.test_report_render import make_result


def point(fpr: float, tpr: float | None = None, heldout: int = 2000) -> OperatingPoint:
    needed = round(10 / fpr)
    if tpr is None or heldout < needed:
        return OperatingPoint(fpr, heldout, needed, estimable=False)
    hits = round(tpr * 100)
    return OperatingPoint(
        fpr, heldout, needed, True, hits, round(fpr * heldout), tpr, fpr,
        (max(0.0, tpr - 0.08), min(1.0, tpr + 0.08)), (fpr / 2, fpr * 2), 0.7,
    )  # fmt: skip


def separation(
    auc: float,
    ci: tuple[float, float],
    p: float,
    tpr: float | None = None,
    eps: float | None = None,
) -> Separation:
    return Separation(100, 2000, auc, ci, p, (point(0.01, tpr), point(0.001)), eps)


def attack(name: str, s: Separation) -> AttackResult:
    return AttackResult(
        name, f"{name} score", "ok", separation=s,
        roc=RocCurve((0.0, 0.001, 0.01, 1.0), (0.0, 0.02, 0.1, 1.0)),
        exposed=(ExposedRecord(17, 3, 1.5, 0.0005),),
    )  # fmt: skip


def privacy_section(*attacks: AttackResult, slices: tuple[ClassSlice, ...] = ()) -> PrivacySection:
    return PrivacySection(
        "ok", budget="quick", source="files", source_detail="--members m.npz (100 records)",
        output="output 'logits' (10 classes), logits through a softmax", members=100,
        nonmembers=2000, members_available=100, nonmembers_available=2000, labelled=True,
        resamples=200, permutations=200, attacks=attacks, slices=slices,
    )  # fmt: skip


NULL = separation(0.51, (0.46, 0.56), 0.3)
STRONG = separation(0.8, (0.75, 0.85), 0.001, tpr=0.2, eps=0.7)
WEAK = separation(0.53, (0.505, 0.555), 0.002)


def quiet_privacy() -> PrivacySection:
    """Nothing leaks, and every point is estimable except 0.1% (kept out below)."""
    s = Separation(100, 20000, 0.5, (0.45, 0.55), 0.5, (point(0.01, 0.01, 20000),), None)
    slices = (ClassSlice(0, 40, 900, {"loss": NULL}),)
    return privacy_section(attack("loss", s), slices=slices)


def found(section: PrivacySection) -> dict[str, object]:
    result = make_result(privacy=section)
    return {f.rule: f for f in rule_findings(result, Thresholds())}


def test_a_strong_leak_warns_with_its_evidence() -> None:
    rules = found(privacy_section(attack("loss", STRONG), attack("confidence", NULL)))
    leak = rules["privacy.membership_leakage"]
    assert leak.severity == "warn" and "loss" in leak.title and "confidence" not in leak.title
    assert "AUC 0.800 [0.750, 0.850]" in leak.evidence and "epsilon >= 0.70" in leak.evidence
    assert "TPR 20.0%" in leak.evidence
    assert "privacy.no_leakage_found" not in rules


def test_a_small_significant_leak_is_info_not_a_warning() -> None:
    rules = found(privacy_section(attack("loss", WEAK)))
    assert "privacy.membership_leakage" not in rules
    assert rules["privacy.weak_membership_leakage"].severity == "info"


def test_the_margin_moves_with_the_threshold() -> None:
    rules = found(privacy_section(attack("loss", WEAK)))
    result = make_result(privacy=privacy_section(attack("loss", WEAK)))
    strict = {f.rule for f in rule_findings(result, Thresholds(privacy_auc_margin=0.02))}
    assert "privacy.weak_membership_leakage" in rules
    assert "privacy.membership_leakage" in strict


def test_holm_keeps_five_borderline_attacks_from_adding_up() -> None:
    # p = 0.02 each: alone significant, but Holm over five attacks lifts it to 0.1.
    borderline = separation(0.56, (0.51, 0.61), 0.02)
    names = ("loss", "confidence", "entropy", "modified_entropy", "qmia")
    rules = found(privacy_section(*(attack(n, borderline) for n in names)))
    assert "privacy.membership_leakage" not in rules
    assert "privacy.no_leakage_found" in rules


def test_no_leakage_is_worded_for_these_attacks_and_this_sample_size() -> None:
    finding = found(privacy_section(attack("loss", NULL)))["privacy.no_leakage_found"]
    assert finding.severity == "info"
    assert "no membership leakage found by these attacks at this sample size" in finding.title
    assert "private" not in finding.title + finding.evidence


def test_unestimable_low_fpr_is_said_once() -> None:
    rules = found(privacy_section(attack("loss", NULL), attack("entropy", NULL)))
    finding = rules["privacy.low_fpr_not_estimable"]
    assert "0.1%" in finding.title and "2000 held-out non-members, 10000 needed" in finding.evidence


def test_an_exposed_class_is_named_after_holm_over_every_slice() -> None:
    slices = (
        ClassSlice(3, 40, 900, {"loss": STRONG}),
        ClassSlice(4, 40, 900, {"loss": NULL}),
        ClassSlice(5, 2, 900, reason="2 member(s) and 900 non-member(s); a slice needs 10"),
    )
    finding = found(privacy_section(attack("loss", NULL), slices=slices))["privacy.class_exposed"]
    assert "class 3" in finding.title and "4" not in finding.title


def test_quiet_privacy_section_raises_no_privacy_finding() -> None:
    rules = found(quiet_privacy())
    assert {r for r in rules if r.startswith("privacy.")} == {"privacy.no_leakage_found"}


def test_skipped_or_absent_privacy_raises_nothing_about_leakage() -> None:
    for section in (PrivacySection("skipped", "skipped by --skip"), PrivacySection("failed", "x")):
        assert not [r for r in found(section) if r.startswith("privacy.")]


def test_gate_metrics_name_each_attack_and_say_why_a_point_has_no_value() -> None:
    result = make_result(
        explanations=ExplanationsSection("skipped"), privacy=privacy_section(attack("loss", STRONG))
    )
    metrics = headline_metrics(result)
    auc = metrics["privacy.loss.auc"]
    assert (auc.value, auc.ci, auc.lower_is_better, auc.kind) == (
        0.8,
        (0.75, 0.85),
        True,
        "interval",
    )
    assert metrics["privacy.loss.tpr_at_1pct"].value == 0.2
    low = metrics["privacy.loss.tpr_at_0.1pct"]
    assert low.value is None and "not estimable" in (low.note or "")
    assert metrics["privacy.loss.epsilon_lower"].value == 0.7


def _text(page: str) -> str:
    section = page[page.index('id="stage-privacy"') :]
    section = re.sub(r"<script.*?</script>", " ", section, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))


def test_the_page_shows_the_table_slices_exposed_indices_and_the_roc() -> None:
    slices = (ClassSlice(3, 40, 900, {"loss": STRONG}), ClassSlice(5, 2, 900, reason="too few"))
    page = render_report(
        make_result(privacy=privacy_section(attack("loss", STRONG), slices=slices))
    )
    text = _text(page)
    assert "0.8 [0.75, 0.85]" in text
    assert "20.0% [12.0%, 28.0%] at 1.0% held-out FPR" in text
    assert "not estimable (2,000 held-out non-members; needs 10,000)" in text
    assert "too few" in text
    assert "17" in text and "0.1%" in text  # exposed member 17, 0.05% of non-members
    assert 'id="privacy-roc"' in page and '"type":"log"' in page.replace(" ", "")
    assert "not that the model is private" in text


def test_a_skipped_section_shows_its_reason_and_no_figure() -> None:
    reason = "no --members/--nonmembers given, and the model is not a zoo model"
    page = render_report(make_result(privacy=PrivacySection("skipped", reason)))
    assert reason in _text(page) and "privacy-roc" not in page


def test_privacy_card_names_the_strongest_attack_with_its_interval_and_low_fpr_power() -> None:
    from harness.reports.summary import summary_cards

    section = privacy_section(attack("confidence", NULL), attack("loss", STRONG))
    card = {c.title: c for c in summary_cards(make_result(privacy=section))}["Privacy"]
    shown = {h.label: (h.value, h.detail) for h in card.headlines}
    value, detail = shown["Strongest attack AUC"]
    assert value == "0.8" and detail is not None
    assert detail.startswith("95% CI [0.75, 0.85], p 0.001; loss, 100 members against")
    # 1% is the lowest estimable target FPR (0.1% needs 10,000 held-out non-members)
    assert shown["TPR at 1% FPR"][0] == "20.0%"


def test_privacy_card_without_an_estimable_point_gives_the_auc_alone() -> None:
    from harness.reports.summary import summary_cards

    card = {
        c.title: c
        for c in summary_cards(make_result(privacy=privacy_section(attack("loss", NULL))))
    }
    labels = [h.label for h in card["Privacy"].headlines]
    assert labels == ["Strongest attack AUC"]
