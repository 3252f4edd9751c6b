"""The findings drawn from an ``AuditResult`` by small rules, worst first, and the verdict.

Each rule is a pure function of the result and the ``Thresholds`` (the result's own,
``config.findings``, unless the caller passes others); it yields zero or more
``Finding``s, each naming the rule (a stable id such as ``efficiency.p99_insufficient``),
the evidence (numbers from the result) and the report section to look at. Rules are data:
``RULES`` lists them in report order; ``findings`` runs them all and sorts the results
fail > warn > info, keeping rule order within a severity. Notes on the quality of the
measurement itself (``MEASUREMENT_RULES``: warm-up, sampling, noise, a cut run, the peak)
are merged into one finding, ``efficiency.measurement``, placed after every finding about
the model: they say how far to trust the numbers, not what the model does.
``rule_findings`` is every rule's own output, before that merge.

``verdict`` turns the findings into the one ``harness.core.verdict.Verdict``: ``fail`` when
a finding about the model fails, else ``incomplete`` when a stage failed or was cut short,
else ``pass with warnings`` when anything warns, else ``pass``. The pipeline stores it in
the result, so the report, the exit code and ``compare`` read one answer.

Rules are defensive: a stage that was skipped or failed has bare defaults (or is a plain
``StageSection``), and a rule then finds nothing rather than raising.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from harness.core.attention import AttentionSection
from harness.core.config import BUDGETS
from harness.core.efficiency import BackendRun, EfficiencySection, ThroughputPoint
from harness.core.explanations import ExplanationsSection
from harness.core.privacy import NOT_RUN, AttackResult, PrivacySection, Separation
from harness.core.result import STAGE_NAMES, AuditResult
from harness.core.thresholds import FindingThresholds
from harness.core.verdict import DecidingFinding, Verdict
from harness.reports import format as fmt

__all__ = [
    "INCOMPLETE_RULES",
    "MEASUREMENT_RULES",
    "RULES",
    "SEVERITIES",
    "Finding",
    "Rule",
    "Thresholds",
    "findings",
    "rule_findings",
    "verdict",
]

Severity = Literal["fail", "warn", "info"]
SEVERITIES: tuple[Severity, ...] = ("fail", "warn", "info")  # worst first


@dataclass(frozen=True)
class Finding:
    severity: Severity
    rule: str  # the rule's stable id: "efficiency.p99_insufficient"
    title: str  # one line, in words
    evidence: str  # the numbers from the result behind it
    where: str  # the id of the report section to look at: "stage-efficiency"


# The thresholds live in the leaf layer: an audit's config records them (a config file's
# ``findings`` table changes them), so a re-render judges as the audit did.
Thresholds = FindingThresholds


Rule = Callable[[AuditResult, Thresholds], Iterator[Finding]]

_CHANCE_AUROC = 0.5  # the random baseline's AUROC when the result holds none
# Below this many bytes of weights a peak-to-weights ratio says nothing about the model:
# the runtime's own arena, kernels and buffers (tens of MiB whatever the model) make the
# peak, so a 1.7 MB model shows "34x the weights" that no change to it would move.
_MEMORY_RATIO_MIN_WEIGHT_BYTES = 64 * 1024**2
# Heads are called redundant or dominant from at least this many samples: one sample's
# ablation says how that one input reacts, not what the head does.
_ABLATION_MIN_SAMPLES = 2


def _efficiency(result: AuditResult) -> EfficiencySection | None:
    section = result.efficiency
    ok = isinstance(section, EfficiencySection) and section.status == "ok"
    return section if ok else None


def _efficiency_runs(result: AuditResult) -> Iterator[tuple[int, BackendRun]]:
    """(index, run) of every measured run; nothing when the section is not ok."""
    section = _efficiency(result)
    yield from enumerate(section.runs if section else ())


def _explanations(result: AuditResult) -> ExplanationsSection | None:
    section = result.explanations
    ok = isinstance(section, ExplanationsSection) and section.status == "ok"
    return section if ok else None


def _attention(result: AuditResult) -> AttentionSection | None:
    section = result.attention
    ok = isinstance(section, AttentionSection) and section.status == "ok"
    return section if ok else None


def _skipped_by_user(result: AuditResult, name: str, reason: str | None) -> bool:
    """Skipped on request, or never run (a stage newer than the result): nothing to report."""
    by_flag = name in result.config.skip or (reason or "").startswith("skipped by --skip")
    return by_flag or reason == NOT_RUN


# --- stages ---------------------------------------------------------------------------


def stage_failed(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A stage that failed: fail, with its reason."""
    for name in STAGE_NAMES:
        section = result.stage(name)
        if section.status == "failed":
            yield Finding(
                "fail",
                "stage.failed",
                f"the {name} stage failed",
                section.reason or "no reason recorded",
                f"stage-{name}",
            )


def stage_skipped(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A stage skipped for a reason other than ``--skip``: info."""
    for name in STAGE_NAMES:
        section = result.stage(name)
        if section.status == "skipped" and not _skipped_by_user(result, name, section.reason):
            yield Finding(
                "info",
                "stage.skipped",
                f"the {name} stage was skipped",
                section.reason or "no reason recorded",
                f"stage-{name}",
            )


def input_defaults(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Defaults the harness chose for the inputs: warn."""
    warnings = result.inputs.warnings
    if warnings:
        n = len(warnings)
        yield Finding(
            "warn",
            "inputs.defaults_chosen",
            f"{n} input default{'s' if n != 1 else ''} chosen by the harness",
            "; ".join(warnings),
            "inputs",
        )


# --- efficiency -----------------------------------------------------------------------


def percentile_insufficient(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A latency percentile too few samples can bound: info, per run and percentile."""
    for i, run in _efficiency_runs(result):
        for name, estimate in run.latency.percentiles_ms.items():
            if estimate.insufficient:
                yield Finding(
                    "info",
                    f"efficiency.{name}_insufficient",
                    f"{name} latency is insufficiently sampled on {run.backend}/{run.device}",
                    f"n = {run.latency.n} calls < min_samples = {estimate.min_samples}",
                    f"efficiency-run{i}",
                )


def latency_noisy(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Latency whose coefficient of variation exceeds ``latency_cv_max``: warn."""
    for i, run in _efficiency_runs(result):
        lat = run.latency
        if lat.cv > t.latency_cv_max:
            yield Finding(
                "warn",
                "efficiency.latency_noisy",
                f"latency on {run.backend}/{run.device} varies widely: a noisy machine "
                "or an unstable model",
                f"CV {fmt.comparison(lat.cv, '>', t.latency_cv_max)} "
                f"(mean {fmt.quantity(lat.mean_ms, 'ms')}, "
                f"std {fmt.quantity(lat.std_ms, 'ms')}, n = {lat.n:,})",
                f"efficiency-run{i}",
            )


def warmup_unsettled(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Warm-up that hit its bound before the median settled: warn."""
    for i, run in _efficiency_runs(result):
        if not run.latency.warmup_settled:
            yield Finding(
                "warn",
                "efficiency.warmup_unsettled",
                f"warm-up did not settle on {run.backend}/{run.device}",
                f"{run.latency.warmup_calls} warm-up calls without a settled median",
                f"efficiency-run{i}",
            )


def memory_vs_weights(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Peak inference memory above ``memory_to_weights_max`` times the weights: info. Only
    for weights of at least 64 MiB: below, the runtime's fixed footprint makes the peak."""
    for i, run in _efficiency_runs(result):
        memory = run.memory
        if memory is None or memory.weight_bytes < _MEMORY_RATIO_MIN_WEIGHT_BYTES:
            continue
        ratio = memory.inference_peak_bytes / memory.weight_bytes
        if ratio > t.memory_to_weights_max:
            yield Finding(
                "info",
                "efficiency.memory_vs_weights",
                f"peak memory {fmt.number(ratio, 3)}× the weights on {run.backend}/{run.device}",
                f"inference peak {fmt.human_bytes(memory.inference_peak_bytes)} vs weights "
                f"{fmt.human_bytes(memory.weight_bytes)} "
                f"(ratio {fmt.comparison(ratio, '>', t.memory_to_weights_max)})",
                f"efficiency-run{i}",
            )


def best_batch(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """The batch size with the highest throughput: info, only when data stand behind it:
    at least two batch sizes with a rate, and the best one's interval clear of every other
    one's (its lower bound above their upper bounds). A sweep of insufficient rates, or
    rates whose intervals overlap, names no best batch."""
    for i, run in _efficiency_runs(result):
        sweep = run.throughput
        rated = [p for p in sweep.points if p.samples_per_s.value is not None] if sweep else []
        best = max(rated, key=lambda p: p.samples_per_s.value or 0.0, default=None)
        if sweep is None or best is None or len(rated) < 2 or not _clearly_best(best, rated):
            continue
        rate = best.samples_per_s
        yield Finding(
            "info",
            "efficiency.best_batch",
            f"throughput on {run.backend}/{run.device} is best at batch {best.batch_size}",
            f"{fmt.quantity(rate.value, 'samples/s')} (95% CI {fmt.number(rate.ci_low)} to "
            f"{fmt.number(rate.ci_high)}), "
            f"clear of the other {len(rated) - 1} batch sizes; sweep stopped: "
            f"{sweep.stopped_because}",
            f"efficiency-run{i}",
        )


def _clearly_best(best: ThroughputPoint, rated: list[ThroughputPoint]) -> bool:
    low = best.samples_per_s.ci_low
    others = [p.samples_per_s.ci_high for p in rated if p is not best]
    return low is not None and all(high is not None and low > high for high in others)


def run_cut_short(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A run the budget's time limits cut short (its notes say what): info, with advice
    that names a larger budget than the one in use, or none when it is the largest."""
    section = _efficiency(result)
    for i, run in _efficiency_runs(result):
        if not run.notes:
            continue
        larger = _larger_budget(section.budget if section else None)
        advice = f"; --budget {larger} allows more time" if larger else ""
        yield Finding(
            "info",
            "efficiency.run_cut_short",
            f"measuring {run.backend}/{run.device} was cut short by the time limit",
            "; ".join(run.notes) + advice,
            f"efficiency-run{i}",
        )


def _larger_budget(current: str | None) -> str | None:
    """The next budget up from ``current`` (None at the top, or for an unknown name)."""
    order = list(BUDGETS)
    if current not in order or order.index(current) == len(order) - 1:
        return None
    return order[order.index(current) + 1]


def peak_unreliable(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A measured peak below the model's own rate: info (no percent of peak is claimed)."""
    for i, run in _efficiency_runs(result):
        roof = run.roofline
        if roof is not None and not roof.peak_reliable:
            yield Finding(
                "info",
                "efficiency.peak_unreliable",
                f"the measured compute peak on {run.backend}/{run.device} is unreliable",
                roof.peak_note
                or f"achieved {fmt.si(roof.achieved_gflops * 1e9, 'FLOP/s')} > peak "
                f"{fmt.si(roof.peak_gflops * 1e9, 'FLOP/s')}",
                f"efficiency-run{i}",
            )


def work_incomplete(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A FLOP count the graph could not complete (too many nodes of unknown cost): warn,
    with the reason. No finding is drawn from its number."""
    section = _efficiency(result)
    work = section.work if section else None
    if work is not None and not work.complete:
        yield Finding(
            "warn",
            "efficiency.work_incomplete",
            "the FLOP count is incomplete: no FLOPs, roofline or percent of peak",
            work.incomplete_reason or "no reason recorded",
            "efficiency-work",
        )


def low_percent_of_peak(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Achieved compute under ``percent_of_peak_min`` % of the measured peak: info. Not
    from an incomplete FLOP count (a lower bound would understate the percentage)."""
    section = _efficiency(result)
    if section is not None and section.work is not None and not section.work.complete:
        return
    for i, run in _efficiency_runs(result):
        roof = run.roofline
        if roof is None or not roof.peak_reliable:
            continue
        if roof.percent_of_peak < t.percent_of_peak_min:
            yield Finding(
                "info",
                "efficiency.low_percent_of_peak",
                f"the model reaches {fmt.number(roof.percent_of_peak, 2)}% of the compute peak on "
                f"{run.backend}/{run.device}",
                f"{fmt.si(roof.achieved_gflops * 1e9, 'FLOP/s')} of "
                f"{fmt.si(roof.peak_gflops * 1e9, 'FLOP/s')} "
                f"({fmt.comparison(roof.percent_of_peak, '<', t.percent_of_peak_min)}%)",
                f"efficiency-run{i}",
            )


# --- explanations ---------------------------------------------------------------------


def sanity_failed(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A method failing the parameter-randomisation sanity check: warn. The fault is the
    METHOD's, not the model's: its attributions do not depend on the weights, so they cannot
    be trusted, but the model may still ship (use another method's explanations). A check
    the deadline cut short (``inconclusive``) is no verdict and makes no finding."""
    section = _explanations(result)
    for method in section.methods if section else ():
        check = method.sanity
        if check is None or check.verdict != "fail":
            continue
        rho = check.final_correlation
        spearman = (
            f"Spearman {fmt.comparison(rho, '>', check.threshold)}"
            if rho is not None
            else "Spearman undefined: constant attributions"
        )
        yield Finding(
            "warn",
            "explanations.sanity_failed",
            f"{method.name} fails the randomisation sanity check ({spearman}): its "
            "explanations cannot be trusted; a fault of the method, not the model",
            f"{fmt.count(len(check.correlations), 'layer')} randomised; correlations "
            + ", ".join(fmt.number(c, 2) for c in check.correlations),
            "stage-explanations",
        )


def ground_truth_weak(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A method whose ground-truth AUROC does not beat the random baseline's by
    ``ground_truth_margin``: warn."""
    section = _explanations(result)
    if section is None:
        return
    random_gt = section.random_baseline.ground_truth if section.random_baseline else None
    chance = random_gt.auroc if random_gt and random_gt.auroc is not None else _CHANCE_AUROC
    for method in section.methods:
        gt = method.ground_truth
        if gt is None or gt.auroc is None:
            continue
        if gt.auroc - chance <= t.ground_truth_margin:
            yield Finding(
                "warn",
                "explanations.ground_truth_weak",
                f"{method.name} barely finds the truly relevant features",
                f"AUROC {fmt.number(gt.auroc, 3)} vs random {fmt.number(chance, 3)} (margin "
                f"{fmt.comparison(gt.auroc - chance, '≤', t.ground_truth_margin)}, "
                f"{fmt.count(gt.samples, 'sample')})",
                "stage-explanations",
            )


_NEEDS_GRADIENTS = " needs gradients: "


# --- privacy --------------------------------------------------------------------------

# A leak is found at this family-wise level: Holm's correction over the attacks that ran
# (or over every class slice), so five attacks are not five chances at a false alarm.
_PRIVACY_ALPHA = 0.05


def _privacy(result: AuditResult) -> PrivacySection | None:
    section = result.privacy
    ok = isinstance(section, PrivacySection) and section.status == "ok"
    return section if ok else None


def _judged_attacks(section: PrivacySection) -> list[tuple[AttackResult, Separation, float]]:
    """(attack, separation, Holm-adjusted p) of every attack that ran."""
    from harness.core.stats import holm  # here: it imports numpy, which a report needs not

    judged = [(a, a.separation) for a in section.attacks if a.separation is not None]
    adjusted = holm([s.p_value for _, s in judged])
    return [(a, s, p) for (a, s), p in zip(judged, adjusted, strict=True)]


def _detected(separation: Separation, adjusted_p: float) -> bool:
    return separation.auc_ci[0] > 0.5 and adjusted_p < _PRIVACY_ALPHA


def _leak_evidence(name: str, s: Separation, adjusted_p: float) -> str:
    parts = [
        f"{name}: AUC {s.auc:.3f} [{s.auc_ci[0]:.3f}, {s.auc_ci[1]:.3f}], p {s.p_value:.3g} "
        f"(Holm {adjusted_p:.3g})"
    ]
    for point in s.points:
        if point.estimable and point.tpr is not None and point.fpr is not None:
            parts.append(
                f"TPR {point.tpr:.1%} at {point.fpr:.2%} held-out FPR "
                f"(target {point.target_fpr:.1%})"
            )
    if s.epsilon_lower is not None:
        parts.append(f"epsilon >= {s.epsilon_lower:.2f}")
    parts.append(f"{s.members} members, {s.nonmembers} non-members")
    return ", ".join(parts)


def membership_leakage(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Attacks that tell members from non-members: warn when one's AUC CI is above 0.5
    with a Holm-adjusted p below 0.05 and its AUC reaches 0.5 + ``privacy_auc_margin``,
    or when it flags members more often than non-members at a low FPR with 95% confidence
    (epsilon lower bound above 0); info when the leak is detectable but smaller."""
    section = _privacy(result)
    if section is None:
        return
    detected = [(a, s, p) for a, s, p in _judged_attacks(section) if _detected(s, p)]
    if not detected:
        return
    strong = [
        (a, s, p)
        for a, s, p in detected
        if s.auc >= 0.5 + t.privacy_auc_margin or (s.epsilon_lower or 0.0) > 0
    ]
    chosen = strong or detected
    evidence = " | ".join(_leak_evidence(a.name, s, p) for a, s, p in chosen)
    names = ", ".join(a.name for a, _, _ in chosen)
    if strong:
        yield Finding(
            "warn",
            "privacy.membership_leakage",
            f"the model's outputs reveal which records it was trained on ({names})",
            evidence,
            "stage-privacy",
        )
    else:
        yield Finding(
            "info",
            "privacy.weak_membership_leakage",
            f"a weak but detectable membership signal ({names}): AUC below "
            f"{0.5 + t.privacy_auc_margin:g}",
            evidence,
            "stage-privacy",
        )


def no_membership_leakage_found(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """No attack separates members from non-members: info, worded for what it is (these
    attacks, this sample size), never "private"."""
    section = _privacy(result)
    if section is None:
        return
    judged = _judged_attacks(section)
    if not judged or any(_detected(s, p) for _, s, p in judged):
        return
    best = max(judged, key=lambda j: j[1].auc)
    attack, s, p = best
    yield Finding(
        "info",
        "privacy.no_leakage_found",
        f"no membership leakage found by these attacks at this sample size "
        f"({section.members} members, {section.nonmembers} non-members)",
        f"highest AUC {attack.name} {s.auc:.3f} [{s.auc_ci[0]:.3f}, {s.auc_ci[1]:.3f}], "
        f"p {s.p_value:.3g} (Holm {p:.3g}); a smaller leak, another attack or more records "
        "could still find one",
        "stage-privacy",
    )


def privacy_point_not_estimable(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Target FPRs too low for the held-out non-members to measure: info, once."""
    section = _privacy(result)
    if section is None:
        return
    judged = _judged_attacks(section)
    if not judged:
        return
    missing = [p for p in judged[0][1].points if not p.estimable]
    if missing:
        yield Finding(
            "info",
            "privacy.low_fpr_not_estimable",
            "TPR at "
            + " and ".join(f"{p.target_fpr:.1%}" for p in missing)
            + " FPR not estimable: too few non-members",
            "; ".join(
                f"{p.heldout_nonmembers} held-out non-members, {p.needed_nonmembers} needed "
                f"for {p.target_fpr:.1%} (10 / FPR)"
                for p in missing
            ),
            "stage-privacy",
        )


def class_exposed(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Classes whose members an attack singles out, judged with Holm's correction over every
    class and attack: info (the whole-set finding carries the verdict)."""
    section = _privacy(result)
    if section is None:
        return
    cells = [(c.label, name, s) for c in section.slices for name, s in c.attacks.items()]
    if not cells:
        return
    from harness.core.stats import holm

    adjusted = holm([s.p_value for _, _, s in cells])
    exposed = [
        (label, name, s, p)
        for (label, name, s), p in zip(cells, adjusted, strict=True)
        if _detected(s, p)
    ]
    if exposed:
        labels = sorted({label for label, _, _, _ in exposed})
        yield Finding(
            "info",
            "privacy.class_exposed",
            f"members of class{'es' if len(labels) > 1 else ''} "
            f"{', '.join(map(str, labels))} are told apart from non-members",
            " | ".join(
                f"class {label} {name}: AUC {s.auc:.3f} [{s.auc_ci[0]:.3f}, {s.auc_ci[1]:.3f}]"
                f", Holm p {p:.3g} ({s.members} members, {s.nonmembers} non-members)"
                for label, name, s, p in exposed
            ),
            "stage-privacy",
        )


def gradients_skipped(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Gradient methods skipped for want of gradients (no usable twin): warn, per reason."""
    section = _explanations(result)
    by_reason: dict[str, list[str]] = {}
    for method in section.methods if section else ():
        reason = method.reason or ""
        if method.status == "skipped" and _NEEDS_GRADIENTS in reason:
            why = reason.split(_NEEDS_GRADIENTS, 1)[1]
            by_reason.setdefault(why, []).append(method.name)
    for why, names in by_reason.items():
        yield Finding(
            "warn",
            "explanations.gradients_skipped",
            f"gradient methods skipped: {why}",
            f"{len(names)} skipped: {', '.join(names)}",
            "stage-explanations",
        )


def twin_unusable(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """A PyTorch twin that could not be built or does not match onnxruntime: warn."""
    section = _explanations(result)
    conversion = section.conversion if section else None
    if conversion is None or conversion.status not in ("mismatch", "unconvertible"):
        return
    evidence = [conversion.reason or "no reason recorded"]
    if conversion.blocking_ops:
        evidence.append(f"blocking ops: {', '.join(conversion.blocking_ops)}")
    if conversion.first_blocking_node:
        evidence.append(f"first blocking node: {conversion.first_blocking_node}")
    worst = [o.max_abs for check in conversion.parity for o in check.outputs if not o.ok]
    if worst:
        evidence.append(
            f"max |twin - onnxruntime| {fmt.number(max(worst), 3)} "
            f"(rtol {conversion.rtol:g}, atol {conversion.atol:g})"
        )
    yield Finding(
        "warn",
        f"explanations.twin_{conversion.status}",
        f"the PyTorch twin is {conversion.status}",
        "; ".join(evidence),
        "stage-explanations",
    )


def method_failed(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """An attribution method that raised: warn."""
    section = _explanations(result)
    for method in section.methods if section else ():
        if method.status == "failed":
            yield Finding(
                "warn",
                "explanations.method_failed",
                f"{method.name} failed",
                method.reason or "no reason recorded",
                "stage-explanations",
            )


def methods_cut_short(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Attribution methods the stage's deadline stopped (status ``incomplete``): warn; the
    verdict is then ``incomplete``: the audit did not explain what it planned to."""
    section = _explanations(result)
    names = [m.name for m in section.methods if m.status == "incomplete"] if section else []
    if names:
        yield Finding(
            "warn",
            "explanations.methods_cut_short",
            f"the explanations deadline stopped {len(names)} method"
            f"{'s' if len(names) != 1 else ''}: {', '.join(names)}",
            "their attributions or scorecards are partial; a larger --budget allows more time",
            "stage-explanations",
        )


# --- attention ------------------------------------------------------------------------


def attention_verification_failed(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Captured maps that do not check out (shape, row sums, recompute): fail, per layer."""
    section = _attention(result)
    for layer in section.layers if section else ():
        v = layer.verification
        problems = []
        if not v.shape_ok:
            problems.append(f"captured shape {layer.captured_shape} is not (batch, heads, q, k)")
        if not v.rows_sum_to_one:
            problems.append(
                f"rows do not sum to 1 (max error {fmt.number(v.max_row_sum_error, 3)})"
            )
        if v.recompute == "mismatch":
            diff = v.recompute_max_abs_diff
            problems.append(
                "recomputed softmax(QK^T) does not match"
                + (f" (max |diff| {fmt.number(diff, 3)})" if diff is not None else "")
            )
        if problems:
            yield Finding(
                "fail",
                "attention.verification_failed",
                f"attention maps of layer {layer.index} fail verification",
                f"{layer.name}: " + "; ".join(problems),
                "stage-attention",
            )


def padding_attended(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Padding tokens that receive attention: warn, per layer."""
    section = _attention(result)
    if section is None:
        return
    for layer in section.layers:
        v = layer.verification
        if v.padding_attended:
            share = v.max_padding_weight
            amount = fmt.percent(share, 0) if share is not None else "some"
            yield Finding(
                "warn",
                "attention.padding_attended",
                f"padding tokens receive {amount} of attention in layer {layer.index}",
                f"{layer.name}: max weight of a real query on padded keys "
                + fmt.number(share, 3)
                + f" (mask input {section.padding_input or '—'})",
                "stage-attention",
            )


def fused_attention(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Fused attention ops found and not captured: info."""
    section = _attention(result)
    if section is not None and section.fused_ops:
        yield Finding(
            "info",
            "attention.fused_skipped",
            "fused attention ops were not captured",
            ", ".join(section.fused_ops),
            "stage-attention",
        )


def _flagged_heads(result: AuditResult, flag: str) -> list[str]:
    section = _attention(result)
    ablation = section.ablation if section else None
    if ablation is None or ablation.samples < _ABLATION_MIN_SAMPLES:
        return []
    heads = ablation.heads
    return [f"L{h.layer}H{h.head} (drop {fmt.number(h.drop, 3)})" for h in heads if h.flag == flag]


def redundant_heads(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Heads whose ablation changes nothing: info, with their count; from 2 samples or more."""
    heads = _flagged_heads(result, "redundant")
    if heads:
        yield Finding(
            "info",
            "attention.redundant_heads",
            f"{len(heads)} redundant head{'s' if len(heads) != 1 else ''}",
            ", ".join(heads),
            "stage-attention",
        )


def dominant_heads(result: AuditResult, t: Thresholds) -> Iterator[Finding]:
    """Heads that carry most of the ablation drop: info; from 2 samples or more."""
    heads = _flagged_heads(result, "dominant")
    if heads:
        yield Finding(
            "info",
            "attention.dominant_heads",
            f"{len(heads)} dominant head{'s' if len(heads) != 1 else ''}",
            ", ".join(heads),
            "stage-attention",
        )


RULES: tuple[Rule, ...] = (
    stage_failed,
    stage_skipped,
    input_defaults,
    percentile_insufficient,
    latency_noisy,
    warmup_unsettled,
    run_cut_short,
    memory_vs_weights,
    best_batch,
    work_incomplete,
    low_percent_of_peak,
    peak_unreliable,
    sanity_failed,
    ground_truth_weak,
    gradients_skipped,
    twin_unusable,
    method_failed,
    methods_cut_short,
    attention_verification_failed,
    padding_attended,
    fused_attention,
    redundant_heads,
    dominant_heads,
    membership_leakage,
    no_membership_leakage_found,
    privacy_point_not_estimable,
    class_exposed,
)


# Rules about how far the numbers can be trusted, not about the model: merged into one
# finding after the others, so they do not bury what matters.
MEASUREMENT_RULES: tuple[Rule, ...] = (
    percentile_insufficient,
    latency_noisy,
    warmup_unsettled,
    run_cut_short,
    peak_unreliable,
)
# Rule ids whose findings mean the audit did not finish: the verdict is "incomplete".
INCOMPLETE_RULES = frozenset({"stage.failed", "explanations.methods_cut_short"})


def rule_findings(result: AuditResult, thresholds: Thresholds | None = None) -> tuple[Finding, ...]:
    """Every rule's own findings on ``result`` (measurement notes not merged), fail > warn >
    info, rule order within each; judged by THRESHOLDS, or by those the audit recorded."""
    lines = thresholds if thresholds is not None else result.config.findings
    found = [f for rule in RULES for f in rule(result, lines)]
    return _worst_first(found)


def findings(result: AuditResult, thresholds: Thresholds | None = None) -> tuple[Finding, ...]:
    """The findings a reader sees: those about the model, fail > warn > info, then one
    finding about the measurement that merges every measurement note."""
    lines = thresholds if thresholds is not None else result.config.findings
    about_model = [
        f for rule in RULES if rule not in MEASUREMENT_RULES for f in rule(result, lines)
    ]
    notes = [f for rule in MEASUREMENT_RULES for f in rule(result, lines)]
    merged = (_measurement_finding(notes),) if notes else ()
    return _worst_first(about_model) + merged


def _worst_first(found: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(found, key=lambda f: SEVERITIES.index(f.severity)))


def _measurement_finding(notes: list[Finding]) -> Finding:
    """One info finding about the measurement: each note's title, then its evidence. Info
    whatever the notes' own severity: they qualify the numbers, they judge no model."""
    n = len(notes)
    return Finding(
        "info",
        "efficiency.measurement",
        f"measurement quality: {n} note{'s' if n != 1 else ''} on how far to trust the timings "
        f"({'; '.join(dict.fromkeys(f.title for f in notes))})",
        " | ".join(f"{f.title} ({f.rule}): {f.evidence}" for f in notes),
        "stage-efficiency",
    )


def verdict(result: AuditResult, thresholds: Thresholds | None = None) -> Verdict:
    """The one verdict of ``findings(result, thresholds)``: fail (a finding about the model
    fails) > incomplete (a stage failed or was cut short) > pass with warnings > pass."""
    found = findings(result, thresholds)
    counts = {s: sum(f.severity == s for f in found) for s in SEVERITIES}
    unfinished = [f for f in found if f.rule in INCOMPLETE_RULES]
    fails = [f for f in found if f.severity == "fail" and f.rule not in INCOMPLETE_RULES]
    warns = [f for f in found if f.severity == "warn" and f.rule not in INCOMPLETE_RULES]
    if fails:
        status, deciding = "fail", fails
    elif unfinished:
        status, deciding = "incomplete", unfinished
    elif warns:
        status, deciding = "pass with warnings", warns
    else:
        status, deciding = "pass", []
    return Verdict(
        status,  # type: ignore[arg-type]  # one of VERDICT_STATUSES by construction
        {str(severity): count for severity, count in counts.items()},
        tuple(DecidingFinding(f.severity, f.rule, f.title) for f in deciding),
    )
