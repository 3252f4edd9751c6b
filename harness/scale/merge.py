"""A dataset's explanations, merged from its shard units (one method over one shard each).

Per method, in shard order:

    metrics        per-sample values joined; the value is the mean of the defined ones
                   (what one audit of every sample would report); a metric with no
                   per-sample values is averaged over shards, weighted by their samples
    curves         each fraction's score and the AUC averaged, weighted by samples
    sanity (MPRT)  each layer's correlation averaged, weighted by samples; pass or fail only
                   when every shard agrees, else inconclusive (with the tally)
    ground truth   AUROC and top-k precision averaged, weighted by the samples that define
                   them
    status         failed when a shard failed (its reason names the shard); incomplete when
                   a shard was cut short or its unit never finished

The random baseline is merged the same way from the first method's shards (every shard
unit scores it on the same samples with the same seed). The shown samples and the plan
come from the first shard. Agreement between methods needs every method's attributions
on the same samples in one place, which units of one method do not have: it is left out,
with a note.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from harness.core.explanations import (
    Curve,
    ExplanationsSection,
    GroundTruthScore,
    MethodResult,
    MetricScore,
    SanityCheck,
)

if TYPE_CHECKING:
    from harness.core.result import AuditResult
    from harness.scale.aggregate import MissingUnit
    from harness.scale.dataset import Dataset
    from harness.scale.units import WorkUnit

__all__ = ["merge_shards"]

_Part = tuple[int, MethodResult]  # (samples in the shard, the method's result there)


def merge_shards(
    shards: list[WorkUnit],
    results: dict[str, AuditResult],
    dataset: Dataset,
    missing: Sequence[MissingUnit],
) -> ExplanationsSection:
    methods = list(dict.fromkeys(u.method for u in shards if u.method is not None))
    bounds = sorted({u.shard for u in shards if u.shard is not None})
    sections = {u.id: results[u.id].explanations for u in shards if u.id in results}
    first = next((sections[u.id] for u in shards if u.id in sections), None)
    if first is None:
        reasons = "; ".join(f"{m.label}: {m.error}" for m in missing[:3])
        return ExplanationsSection(status="failed", reason=f"no shard finished ({reasons})")
    merged, baselines = [], []
    for method in methods:
        parts: list[_Part] = []
        lacking: list[str] = []
        for unit in (u for u in shards if u.method == method):
            assert unit.shard is not None
            section = sections.get(unit.id)
            found = _method(section, method) if section is not None else None
            if found is None and section is not None:  # the shard's stage failed or skipped
                why = section.reason or "no result"
                if section.status == "skipped":
                    found = MethodResult(method, "skipped", reason=why)
                else:
                    found = MethodResult(method, "failed", reason=why)
            if found is None:
                lacking.append(f"{unit.shard[0]}-{unit.shard[1]}")
                continue
            parts.append((unit.shard[1] - unit.shard[0], found))
            if method == methods[0] and section is not None and section.random_baseline:
                baselines.append((unit.shard[1] - unit.shard[0], section.random_baseline))
        merged.append(_merge_method(method, parts, lacking, len(bounds)))
    ran = [m for m in merged if m.status != "skipped"]
    status = "ok" if ran and any(m.status != "failed" for m in ran) else first.status
    notes = (
        f"samples: all {dataset.count} of {dataset.source}, in {len(bounds)} shard(s) of up to "
        f"{bounds[0][1] - bounds[0][0]} (one work unit per shard and method)",
        "agreement between methods: not computed (each work unit holds one method's attributions)",
        *(n for n in first.notes if not n.startswith("samples:")),
    )
    return replace(
        first,
        status=status,
        reason=None if status == "ok" else first.reason,
        samples=dataset.count,
        methods=tuple(merged),
        random_baseline=_merge_method("random", baselines, [], len(bounds)) if baselines else None,
        agreement=None,
        notes=tuple(dict.fromkeys(notes)),
        plan={**first.plan, "samples": dataset.count, "shards": len(bounds)},
    )


def _method(section: ExplanationsSection, name: str) -> MethodResult | None:
    return next((m for m in section.methods if m.name == name), None)


def _merge_method(name: str, parts: list[_Part], lacking: list[str], shards: int) -> MethodResult:
    if not parts:
        return MethodResult(name, "incomplete", reason=f"no shard of {shards} finished")
    first = parts[0][1]
    failed = [(n, m) for n, m in parts if m.status == "failed"]
    if first.status == "skipped":
        return first  # the model, not the samples, decides a skip: the same in every shard
    if failed:
        return replace(first, status="failed", reason=f"a shard failed: {failed[0][1].reason}")
    cut = [m for _, m in parts if m.status == "incomplete"]
    status, reason = first.status, first.reason
    if lacking or cut:
        status = "incomplete"
        reason = "; ".join(
            filter(
                None,
                [
                    f"shard(s) {', '.join(lacking)} did not finish" if lacking else "",
                    f"cut short in a shard: {cut[0].reason}" if cut else "",
                ],
            )
        )
    scored = [(n, m) for n, m in parts if m.status == "ok"]
    return replace(
        first,
        status=status,
        reason=reason,
        parameters={**first.parameters, "shards": len(parts)},
        metrics=_metrics(scored),
        curves=_curves(scored),
        sanity=_sanity(scored),
        ground_truth=_ground_truth(scored),
    )


def _metrics(parts: list[_Part]) -> tuple[MetricScore, ...]:
    if not parts:
        return ()
    names = [s.name for s in parts[0][1].metrics]
    return tuple(_metric(name, parts) for name in names)


def _metric(name: str, parts: list[_Part]) -> MetricScore:
    scores = [(n, s) for n, m in parts for s in m.metrics if s.name == name]
    first = scores[0][1]
    per_sample = tuple(v for _, s in scores for v in s.per_sample)
    if per_sample:
        defined = [v for v in per_sample if v is not None]
        value = math.fsum(defined) / len(defined) if defined else None
    else:
        value = _weighted([(n, s.value) for n, s in scores])
    parameters = dict(first.parameters)
    scored = sum(1 for _, s in scores if s.value is not None)
    if scored != len(scores):
        parameters["shards_scored"] = scored
    return replace(first, value=value, per_sample=per_sample, parameters=parameters)


def _curves(parts: list[_Part]) -> tuple[Curve, ...]:
    if not parts:
        return ()
    merged = []
    for curve in parts[0][1].curves:
        same = [(n, c) for n, m in parts for c in m.curves if c.name == curve.name]
        if any(c.fractions != curve.fractions for _, c in same):
            continue  # shards that planned other fractions cannot be averaged point by point
        scores = tuple(
            _weighted([(n, c.scores[i]) for n, c in same]) or 0.0
            for i in range(len(curve.fractions))
        )
        auc = _weighted([(n, c.auc) for n, c in same])
        merged.append(replace(curve, scores=scores, auc=auc if auc is not None else curve.auc))
    return tuple(merged)


def _sanity(parts: list[_Part]) -> SanityCheck | None:
    checks = [(n, m.sanity) for n, m in parts if m.sanity is not None]
    if not checks:
        return None
    first = checks[0][1]
    verdicts = [c.verdict for _, c in checks]
    tally = {v: verdicts.count(v) for v in ("pass", "fail", "inconclusive")}
    status = verdicts[0] if len(set(verdicts)) == 1 else "inconclusive"
    reason = first.reason if status == "inconclusive" and len(set(verdicts)) == 1 else None
    if len(set(verdicts)) > 1:
        reason = (
            f"the shards disagree: {tally['pass']} pass, {tally['fail']} fail, "
            f"{tally['inconclusive']} inconclusive"
        )
    depth = min(len(c.correlations) for _, c in checks)
    correlations = tuple(
        _weighted([(n, c.correlations[i]) for n, c in checks]) for i in range(depth)
    )
    excluded = [c.excluded_features for _, c in checks]
    return replace(
        first,
        layers=first.layers[:depth],
        correlations=correlations,
        final_correlation=_weighted([(n, c.final_correlation) for n, c in checks]),
        passed=status == "pass",
        status=status,
        reason=reason,
        signed_correlation=_weighted([(n, c.signed_correlation) for n, c in checks]),
        absolute_correlation=_weighted([(n, c.absolute_correlation) for n, c in checks]),
        excluded_features=sum(e for e in excluded if e is not None)
        if any(e is not None for e in excluded)
        else None,
    )


def _ground_truth(parts: list[_Part]) -> GroundTruthScore | None:
    scores = [m.ground_truth for _, m in parts if m.ground_truth is not None]
    if not scores:
        return None
    return GroundTruthScore(
        auroc=_weighted([(s.samples, s.auroc) for s in scores]),
        top_k_precision=_weighted([(s.samples, s.top_k_precision) for s in scores]),
        samples=sum(s.samples for s in scores),
    )


def _weighted(pairs: Sequence[tuple[int, float | None]]) -> float | None:
    """The mean of the defined values, each weighted by its count; None if none is."""
    defined = [(n, v) for n, v in pairs if v is not None and n > 0]
    total = sum(n for n, _ in defined)
    return math.fsum(n * v for n, v in defined) / total if total else None
