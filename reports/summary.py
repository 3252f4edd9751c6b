"""The summary above the fold: one card per part of the audit, its headline figures with
their uncertainty, each card linking to the section that holds the evidence.

A card is data (``Card``); the template only lays it out. The model's card comes first,
then one card per stage in ``STAGE_NAMES`` order. A stage that was skipped or failed gets a
card saying so, with the reason; a stage that ran gets the figures its builder in
``STAGE_CARDS`` picks, or, for a stage without a builder yet, a card saying it ran and
where to read it. Adding a stage's figures is adding one builder function to
``STAGE_CARDS``: ``builder(section, result) -> tuple[Headline, ...]``.

Every number is written by ``harness.reports.format``, the page's one formatter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.core.attention import AttentionLayer, AttentionSection
from harness.core.efficiency import BackendRun, EfficiencySection
from harness.core.explanations import ExplanationsSection, MethodResult
from harness.core.privacy import AttackResult, PrivacySection
from harness.core.result import STAGE_NAMES, AuditResult
from harness.reports import format as fmt

__all__ = ["STAGE_CARDS", "Card", "Headline", "summary_cards"]


@dataclass(frozen=True)
class Headline:
    """One headline figure: ``label`` ``value``, with its uncertainty or context."""

    label: str
    value: str
    detail: str | None = None


@dataclass(frozen=True)
class Card:
    title: str
    anchor: str  # the id of the section that holds the evidence
    status: str  # "ok", "skipped", "failed": the badge's class
    headlines: tuple[Headline, ...] = ()
    note: str | None = None  # a skipped or failed stage's reason; a builder-less stage's hint


StageCard = Callable[[Any, AuditResult], tuple[Headline, ...]]


# --- the model ---------------------------------------------------------------------------


def model_card(result: AuditResult) -> Card:
    model = result.model
    inputs = ", ".join(f"{spec.name} {fmt.shape(spec.shape)}" for spec in model.inputs)
    return Card(
        title="Model",
        anchor="model",
        status="ok",
        headlines=(
            Headline(
                "Parameters",
                fmt.thousands(model.parameter_count),
                f"{fmt.human_bytes(model.parameter_bytes)} of weights",
            ),
            Headline(
                "Graph",
                fmt.count(model.node_count, "node"),
                f"{model.format}"
                + (f", {fmt.human_bytes(model.file_bytes)} file" if model.file_bytes else ""),
            ),
            Headline("Inputs", str(len(model.inputs)), inputs or None),
        ),
    )


# --- efficiency --------------------------------------------------------------------------


def _latency(run: BackendRun) -> Headline:
    p50 = run.latency.percentiles_ms.get("p50")
    where = f"{run.backend}/{run.device}, batch {run.latency.batch_size}"
    calls = fmt.count(run.latency.n, "call")
    if p50 is None or p50.insufficient or p50.value is None:
        return Headline("Latency p50", "insufficient", f"{calls} on {where}")
    ci = f"95% CI {fmt.ci(p50)} ms" if p50.ci_low is not None else "no CI"
    return Headline("Latency p50", fmt.quantity(p50.value, "ms"), f"{ci}; {calls} on {where}")


def _throughput(run: BackendRun) -> Headline | None:
    sweep = run.throughput
    if sweep is None:
        return None
    rated = [p for p in sweep.points if p.samples_per_s.value is not None]
    if not rated:
        return Headline("Best throughput", "insufficient", sweep.stopped_because)
    best = max(rated, key=lambda p: p.samples_per_s.value or 0.0)
    rate = best.samples_per_s
    ci = f"95% CI {fmt.ci(rate)}; " if rate.ci_low is not None else ""
    return Headline(
        "Best throughput",
        fmt.quantity(rate.value, "samples/s"),
        f"{ci}at batch {best.batch_size} of {fmt.count(len(sweep.points), 'size')} swept",
    )


def _memory(run: BackendRun) -> Headline | None:
    memory = run.memory
    if memory is None:
        return None
    return Headline(
        "Peak memory",
        fmt.human_bytes(memory.inference_peak_bytes),
        f"inference, above a {fmt.human_bytes(memory.baseline_rss_bytes)} baseline "
        f"({memory.method}, one measurement)",
    )


def _flops(section: EfficiencySection) -> Headline | None:
    work = section.work
    if work is None:
        return None
    if not work.complete:
        return Headline("FLOPs", "incomplete", work.incomplete_reason or "lower bound only")
    return Headline(
        "FLOPs",
        fmt.quantity(work.flops, "FLOPs"),
        f"per inference at batch {work.batch_size}, counted from the graph (exact)",
    )


def efficiency_card(section: EfficiencySection, result: AuditResult) -> tuple[Headline, ...]:
    if not section.runs:
        return (Headline("Runs", "none", "no backend was measured"),)
    run = section.runs[0]
    found = (_latency(run), _throughput(run), _memory(run), _flops(section))
    return tuple(h for h in found if h is not None)


# --- explanations -----------------------------------------------------------------------


def _twin(section: ExplanationsSection) -> Headline:
    conversion = section.conversion
    if conversion is None:
        return Headline("PyTorch twin", "not needed", "gradients from the model itself")
    detail = conversion.reason or (
        f"outputs match onnxruntime (rtol {fmt.number(conversion.rtol)}, "
        f"atol {fmt.number(conversion.atol)})"
        if conversion.status == "converted"
        else None
    )
    return Headline("PyTorch twin", conversion.status, detail)


def _sanity_counts(methods: list[MethodResult]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "inconclusive": 0, "not checked": 0}
    for method in methods:
        verdict = method.sanity.verdict if method.sanity is not None else "not checked"
        counts[verdict] += 1
    return counts


def _trusted(section: ExplanationsSection) -> Headline:
    ran = [m for m in section.methods if m.status == "ok"]
    counts = _sanity_counts(ran)
    others = len(section.methods) - len(ran)
    parts = [f"{n} {verdict}" for verdict, n in counts.items() if n and verdict != "pass"]
    if others:
        parts.append(f"{others} skipped or failed")
    return Headline(
        "Methods passing checks",
        f"{counts['pass']} of {len(section.methods)}",
        "randomisation sanity check" + (f"; {', '.join(parts)}" if parts else ": all pass"),
    )


_MODALITY = {"image": "image input", "tokens": "token ids", "vector": "feature vector"}


def explanations_card(section: ExplanationsSection, result: AuditResult) -> tuple[Headline, ...]:
    samples = fmt.count(section.samples, "sample")
    return (
        _trusted(section),
        _twin(section),
        Headline("Explained", samples, _MODALITY.get(section.modality or "", "input")),
    )


# --- attention --------------------------------------------------------------------------


def _verified(layer: AttentionLayer) -> bool:
    check = layer.verification
    return check.shape_ok and check.rows_sum_to_one and check.recompute != "mismatch"


def attention_card(section: AttentionSection, result: AuditResult) -> tuple[Headline, ...]:
    layers = section.layers
    heads = sum(layer.heads for layer in layers)
    verified = [layer for layer in layers if _verified(layer)]
    verified_heads = sum(layer.heads for layer in verified)
    recomputed = sum(layer.verification.recompute == "match" for layer in layers)
    return (
        Headline(
            "Attention found",
            fmt.count(len(layers), "layer"),
            f"{fmt.count(heads, 'head')}, {fmt.count(section.samples, 'sample')} captured",
        ),
        Headline(
            "Maps verified",
            f"{verified_heads} of {heads}",
            f"heads whose maps have the right shape and rows summing to 1; "
            f"{recomputed} of {fmt.count(len(layers), 'layer')} recomputed from Q·K",
        ),
    )


# --- privacy ----------------------------------------------------------------------------


def _strongest(section: PrivacySection) -> AttackResult | None:
    judged = [attack for attack in section.attacks if attack.separation is not None]
    return max(judged, key=lambda attack: attack.separation.auc, default=None)  # type: ignore[union-attr]


def _low_fpr(attack: AttackResult) -> Headline | None:
    points = attack.separation.points if attack.separation else ()
    estimable = [point for point in points if point.estimable and point.tpr is not None]
    if not estimable:
        return None
    point = min(estimable, key=lambda p: p.target_fpr)
    low, high = point.tpr_ci or (None, None)
    return Headline(
        f"TPR at {fmt.number(point.target_fpr * 100)}% FPR",
        fmt.percent(point.tpr),
        f"95% CI [{fmt.percent(low)}, {fmt.percent(high)}]; {attack.name}, thresholds "
        "fitted on other non-members",
    )


def privacy_card(section: PrivacySection, result: AuditResult) -> tuple[Headline, ...]:
    strongest = _strongest(section)
    if strongest is None or strongest.separation is None:
        return (Headline("Attacks judged", "0", "no attack could be scored"),)
    separation = strongest.separation
    low, high = separation.auc_ci
    headlines = [
        Headline(
            "Strongest attack AUC",
            fmt.number(separation.auc),
            f"95% CI [{fmt.number(low)}, {fmt.number(high)}], p {fmt.number(separation.p_value)}; "
            f"{strongest.name}, {fmt.count(section.members, 'member')} against "
            f"{fmt.count(section.nonmembers, 'non-member')} (0.5 is chance)",
        )
    ]
    low_fpr = _low_fpr(strongest)
    if low_fpr is not None:
        headlines.append(low_fpr)
    return tuple(headlines)


# One builder per stage that has headline figures; a stage missing here still gets a card.
STAGE_CARDS: dict[str, StageCard] = {
    "efficiency": efficiency_card,
    "explanations": explanations_card,
    "attention": attention_card,
    "privacy": privacy_card,
}


def _stage_card(name: str, result: AuditResult) -> Card:
    section = result.stage(name)
    title = name.capitalize()
    anchor = f"stage-{name}"
    if section.status != "ok":
        reason = section.reason or "no reason recorded"
        return Card(title, anchor, section.status, note=f"{section.status}: {reason}")
    builder = STAGE_CARDS.get(name)
    if builder is None:
        return Card(title, anchor, "ok", note="ran; its section below holds the results")
    return Card(title, anchor, "ok", headlines=builder(section, result))


def summary_cards(result: AuditResult) -> tuple[Card, ...]:
    """The model's card, then one per stage, in the page's order."""
    return (model_card(result), *(_stage_card(name, result) for name in STAGE_NAMES))
