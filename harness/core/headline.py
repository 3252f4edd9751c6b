"""The headline metrics of a result, by name: what the gate checks and compare tabulates.

Names (``--check NAME:THRESHOLD``):

    latency.p50 | p90 | p95 | p99 | mean      ms, lower is better, raw samples kept
    throughput.max | throughput.b<N>          samples/s, higher is better, with a CI
    memory.peak_inference | peak_session      bytes above baseline RSS, lower is better
    memory.gpu_peak                           bytes, lower is better
    cold_start.load | session | first_call    ms, lower is better (one measurement each)
    work.flops                                FLOPs per inference, lower is better; no
                                              value when the count is incomplete
    explanations.<method>.<metric>            each scorecard metric, its own direction
    explanations.<method>.ground_truth_auroc  higher is better
    explanations.<method>.sanity              MPRT final correlation, lower is better
    privacy.<attack>.auc                      membership-inference AUC, lower is better,
                                              with its bootstrap CI
    privacy.<attack>.tpr_at_1pct | _0.1pct    TPR at that FPR on held-out non-members,
                                              lower is better, Clopper-Pearson CI; no value
                                              when not estimable (too few non-members)
    privacy.<attack>.epsilon_lower            the epsilon lower bound, lower is better

Efficiency metrics come from one backend run. By default the first run of the result;
``latency.p50@torch`` or ``latency.p50@onnxruntime/cuda`` names another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from harness.core.efficiency import BackendRun, EfficiencySection, Estimate
from harness.core.explanations import ExplanationsSection, MethodResult, SanityCheck
from harness.core.privacy import PrivacySection, Separation, fpr_key
from harness.core.result import AuditResult

__all__ = [
    "Metric",
    "MetricKind",
    "available_runs",
    "headline_metrics",
    "latency_metrics",
    "run_key",
]

# How a metric's uncertainty is known, and so how a difference in it is judged:
# "samples": raw per-call samples (a two-sample test); "interval": a 95% CI only (the CIs
# must not overlap); "point": one number (its threshold alone decides).
MetricKind = Literal["samples", "interval", "point"]

LATENCY_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Metric:
    name: str  # without the "@backend/device" suffix
    value: float | None  # None: insufficiently sampled or not computed
    unit: str  # "ms", "samples/s", "bytes", "FLOPs", "" for scores
    lower_is_better: bool
    kind: MetricKind
    samples: tuple[float, ...] = ()  # "samples": every timed call
    quantile: float | None = None  # "samples": which quantile VALUE is; None for the mean
    ci: tuple[float, float] | None = None  # "interval": the 95% CI of VALUE
    note: str | None = None  # why VALUE is None, in words


def run_key(run: BackendRun) -> str:
    return f"{run.backend}/{run.device}"


def headline_metrics(result: AuditResult, run: str | None = None) -> dict[str, Metric]:
    """Every headline metric RESULT holds, by name; RUN picks the backend run ("torch/cpu",
    or just "torch"), the first run when None."""
    metrics: dict[str, Metric] = {}
    chosen = _pick_run(result.efficiency, run)
    if chosen is not None:
        for metric in _efficiency_metrics(chosen):
            metrics[metric.name] = metric
    work = result.efficiency.work
    if work is not None:
        # An incomplete count is a lower bound, not the model's FLOPs: it gets no value, so
        # a check on it is "missing" (both incomplete) or "inconclusive" (one), never a
        # comparison of partial sums. (Left out instead, a check naming it on two incomplete
        # results would be refused as a metric neither result holds.)
        value = float(work.flops) if work.complete else None
        metrics["work.flops"] = Metric("work.flops", value, "FLOPs", True, "point")
    for metric in _explanation_metrics(result.explanations):
        metrics[metric.name] = metric
    for metric in _privacy_metrics(result.privacy):
        metrics[metric.name] = metric
    return metrics


def available_runs(result: AuditResult) -> tuple[str, ...]:
    return tuple(run_key(run) for run in result.efficiency.runs)


def _pick_run(section: EfficiencySection, wanted: str | None) -> BackendRun | None:
    if not section.runs:
        return None
    if wanted is None:
        return section.runs[0]
    for run in section.runs:
        if wanted in (run_key(run), run.backend):
            return run
    return None


def _efficiency_metrics(run: BackendRun) -> list[Metric]:
    latency = run.latency
    metrics = latency_metrics(latency.samples_ms, latency.percentiles_ms, latency.mean_ms)
    metrics += _throughput_metrics(run)
    metrics += _memory_metrics(run)
    cold = run.cold_start
    metrics += [
        Metric("cold_start.load", cold.load_ms, "ms", True, "point"),
        Metric("cold_start.session", cold.session_ms, "ms", True, "point"),
        Metric("cold_start.first_call", cold.first_call_ms, "ms", True, "point"),
    ]
    return metrics


def latency_metrics(
    samples_ms: tuple[float, ...], percentiles: Mapping[str, Estimate], mean_ms: float
) -> list[Metric]:
    """latency.p50 ... p99 and latency.mean over the raw SAMPLES_MS, from the PERCENTILES
    estimated on them: an insufficiently sampled percentile has no value, and a note.
    An audit's run and the gate's A/B measurement both build them here."""
    metrics = []
    for name, q in LATENCY_QUANTILES.items():
        estimate = percentiles.get(name)
        metric = f"latency.{name}"
        if estimate is None or estimate.insufficient or estimate.value is None:
            needed = estimate.min_samples if estimate is not None else "more"
            note = f"insufficiently sampled: {len(samples_ms)} calls, needs {needed}"
            metrics.append(Metric(metric, None, "ms", True, "samples", samples_ms, q, note=note))
        else:
            metrics.append(Metric(metric, estimate.value, "ms", True, "samples", samples_ms, q))
    metrics.append(Metric("latency.mean", mean_ms, "ms", True, "samples", samples_ms))
    return metrics


def _throughput_metrics(run: BackendRun) -> list[Metric]:
    if run.throughput is None or not run.throughput.points:
        return []
    metrics = [
        _throughput_metric(f"throughput.b{p.batch_size}", p.samples_per_s)
        for p in run.throughput.points
    ]
    best = max(run.throughput.points, key=lambda p: p.samples_per_s.value or 0.0)
    metrics.append(_throughput_metric("throughput.max", best.samples_per_s))
    return metrics


def _throughput_metric(name: str, estimate: Estimate) -> Metric:
    ci = None
    if estimate.ci_low is not None and estimate.ci_high is not None:
        ci = (estimate.ci_low, estimate.ci_high)
    return Metric(name, estimate.value, "samples/s", False, "interval", ci=ci)


def _memory_metrics(run: BackendRun) -> list[Metric]:
    memory = run.memory
    if memory is None:
        return []
    metrics = [
        Metric("memory.peak_inference", float(memory.inference_peak_bytes), "bytes", True, "point"),
        Metric("memory.peak_session", float(memory.session_peak_bytes), "bytes", True, "point"),
    ]
    if memory.gpu_peak_bytes is not None:
        metrics.append(
            Metric("memory.gpu_peak", float(memory.gpu_peak_bytes), "bytes", True, "point")
        )
    return metrics


def _explanation_metrics(section: ExplanationsSection) -> list[Metric]:
    metrics: list[Metric] = []
    for method in section.methods:
        if method.status == "ok":
            metrics += _method_metrics(method)
    return metrics


def _method_metrics(method: MethodResult) -> list[Metric]:
    prefix = f"explanations.{method.name}"
    # The scorecard's "mprt" is the sanity check's final correlation: one name for it.
    scores = [s for s in method.metrics if not (s.name == "mprt" and method.sanity)]
    metrics = [
        Metric(f"{prefix}.{score.name}", score.value, "", not score.higher_is_better, "point")
        for score in scores
    ]
    if method.ground_truth is not None:
        metrics.append(
            Metric(f"{prefix}.ground_truth_auroc", method.ground_truth.auroc, "", False, "point")
        )
    if method.sanity is not None:
        metrics.append(_sanity_metric(prefix, method.sanity))
    return metrics


def _sanity_metric(prefix: str, sanity: SanityCheck) -> Metric:
    """The sanity check's final correlation, only for a cascade that ran its planned depth;
    its unit names that depth, and the gate never compares values in different units, so
    never correlations computed at different depths."""
    depth = sanity.layers_planned
    unit = "" if depth is None else f"after {depth} layers"
    name = f"{prefix}.sanity"
    if sanity.verdict == "inconclusive":
        note = sanity.reason or "the sanity check did not reach its planned depth"
        return Metric(name, None, unit, True, "point", note=f"inconclusive: {note}")
    return Metric(name, sanity.final_correlation, unit, True, "point")


def _privacy_metrics(section: PrivacySection) -> list[Metric]:
    if section.status != "ok":
        return []
    metrics: list[Metric] = []
    for attack in section.attacks:
        if attack.separation is not None:
            metrics += _attack_metrics(f"privacy.{attack.name}", attack.separation)
    return metrics


def _attack_metrics(prefix: str, s: Separation) -> list[Metric]:
    metrics = [Metric(f"{prefix}.auc", s.auc, "", True, "interval", ci=s.auc_ci)]
    for point in s.points:
        name = f"{prefix}.tpr_at_{fpr_key(point.target_fpr)}"
        if point.estimable and point.tpr is not None:
            metrics.append(Metric(name, point.tpr, "", True, "interval", ci=point.tpr_ci))
        else:
            note = (
                f"not estimable: {point.heldout_nonmembers} held-out non-members, "
                f"{point.needed_nonmembers} needed"
            )
            metrics.append(Metric(name, None, "", True, "interval", note=note))
    note = None if s.epsilon_lower is not None else "not estimable: no estimable FPR point"
    metrics.append(Metric(f"{prefix}.epsilon_lower", s.epsilon_lower, "", True, "point", note=note))
    return metrics
