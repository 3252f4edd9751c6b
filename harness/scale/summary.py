"""The summary across models: ``summary.json`` and ``summary.html`` (one self-contained
page, no script, no network), ranking the models by

    1. verdict        pass < pass with warnings < incomplete < fail < no result
    2. trust          of the explanations: the share of scorecard comparisons in which an
                      attribution method beats the random baseline (each metric of each
                      method that ran, both values defined, in the metric's direction);
                      higher first, none last
    3. latency        p50 of the first efficiency run, ms; lower first, none last
    4. name

with a link to each model's report. Built from the aggregates alone, so it is the same
bytes whichever executor produced the units.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from harness.core.result import AuditResult
from harness.scale.aggregate import ModelAggregate

__all__ = ["SUMMARY_KIND", "SummaryRow", "render_summary", "summary_json", "summary_rows"]

SUMMARY_KIND = "harness audit-many summary"
_VERDICT_ORDER = {"pass": 0, "pass with warnings": 1, "incomplete": 2, "fail": 3}


@dataclass(frozen=True)
class SummaryRow:
    rank: int
    name: str
    model: str
    verdict: str  # a verdict status, or "no result"
    verdict_line: str
    latency_p50_ms: float | None
    trust: float | None  # share of comparisons beating the random baseline, 0..1
    trust_detail: str  # "17 of 18 comparisons beat random; sanity 1 pass, 1 inconclusive"
    partial: bool
    missing_units: tuple[str, ...]  # "ID (label): error"
    report: str | None  # the report's path, relative to the summary


def summary_rows(aggregates: list[ModelAggregate]) -> list[SummaryRow]:
    unranked = [_row(a) for a in aggregates]
    unranked.sort(key=_rank_key)
    return [SummaryRow(i + 1, *_fields(row)[1:]) for i, row in enumerate(unranked)]


def _fields(row: SummaryRow) -> tuple[Any, ...]:
    return tuple(asdict(row).values())


def _rank_key(row: SummaryRow) -> tuple[Any, ...]:
    return (
        _VERDICT_ORDER.get(row.verdict, len(_VERDICT_ORDER)),
        -row.trust if row.trust is not None else 1.0,
        row.latency_p50_ms if row.latency_p50_ms is not None else float("inf"),
        row.name,
    )


def _row(aggregate: ModelAggregate) -> SummaryRow:
    from harness.core.verdict import verdict_line

    result = aggregate.result
    missing = tuple(f"{m.unit} ({m.label}): {m.error}" for m in aggregate.missing)
    if result is None:
        return SummaryRow(
            0, aggregate.name, "", "no result", "the model's intake unit did not finish",
            None, None, "", True, missing, None,
        )  # fmt: skip
    trust, detail = explanation_trust(result)
    verdict = result.verdict
    return SummaryRow(
        rank=0,
        name=aggregate.name,
        model=result.model.name,
        verdict=verdict.status if verdict else "incomplete",
        verdict_line=verdict_line(verdict) if verdict else "",
        latency_p50_ms=_latency(result),
        trust=trust,
        trust_detail=detail,
        partial=aggregate.partial,
        missing_units=missing,
        report=f"models/{aggregate.name}/report.html",
    )


def _latency(result: AuditResult) -> float | None:
    from harness.core.headline import headline_metrics

    metric = headline_metrics(result).get("latency.p50")
    return round(metric.value, 6) if metric is not None and metric.value is not None else None


def explanation_trust(result: AuditResult) -> tuple[float | None, str]:
    """(share of scorecard comparisons won against the random baseline, in words)."""
    section = result.explanations
    baseline = section.random_baseline
    if section.status != "ok" or baseline is None:
        return None, "no explanations" if section.status != "ok" else "no random baseline"
    chance = {s.name: s.value for s in baseline.metrics if s.value is not None}
    wins = compared = 0
    for method in (m for m in section.methods if m.status in ("ok", "incomplete")):
        for score in method.metrics:
            if score.value is None or score.name not in chance:
                continue
            compared += 1
            better = score.value > chance[score.name]
            wins += better if score.higher_is_better else score.value < chance[score.name]
    verdicts = [m.sanity.verdict for m in section.methods if m.sanity is not None]
    sanity = ", ".join(f"{verdicts.count(v)} {v}" for v in ("pass", "fail", "inconclusive"))
    detail = f"{wins} of {compared} comparisons beat random" + (
        f"; sanity {sanity}" if verdicts else ""
    )
    return (round(wins / compared, 6) if compared else None), detail


def summary_json(rows: list[SummaryRow], partial: bool) -> str:
    document = {
        "kind": SUMMARY_KIND,
        "partial": partial,
        "models": [asdict(row) for row in rows],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def render_summary(rows: list[SummaryRow], partial: bool, title: str) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("harness.scale", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(("html", "j2")),
        keep_trailing_newline=True,
    )
    return env.get_template("summary.html.j2").render(rows=rows, partial=partial, title=title)
