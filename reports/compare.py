"""Two ``AuditResult``s, A (the base) and B (the current), side by side: one HTML page.

What changed, judged as the gate judges it: every headline metric both results hold
(``harness.core.headline``), per backend run both measured, goes through one
``harness.core.comparison.decide`` at its ``default_threshold`` (so the Holm correction
sees the whole family, as the gate's does); then the findings that appeared, went away or
changed severity, how far the two models' attributions agree on the same samples, and what
differs between the machines that measured them.

Everything here is a pure function of the two results; ``render_comparison`` is the page.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from markupsafe import Markup

from harness.core.comparison import (
    DEFAULT_ALPHA,
    CheckOutcome,
    Verdict,
    decide_by_run,
    default_threshold,
    format_change,
)
from harness.core.efficiency import BackendRun
from harness.core.environment_diff import EnvDifference, environment_differences
from harness.core.headline import Metric, available_runs, headline_metrics, run_key
from harness.core.model_identity import ModelIdentity, model_identity
from harness.core.result import AuditResult
from harness.reports import format as fmt
from harness.reports.attribution_agreement import (
    TOP_FRACTION,
    AttributionComparison,
    attribution_agreement,
)
from harness.reports.findings import Finding, findings

__all__ = [
    "FAMILIES",
    "Comparison",
    "FindingChange",
    "GateVerdicts",
    "MetricGroup",
    "MetricRow",
    "Side",
    "change_ci_text",
    "change_text",
    "ci_text",
    "compare",
    "compare_metrics",
    "comparison_figures",
    "finding_changes",
    "finding_subject",
    "render_comparison",
    "same_model",
    "value_text",
    "verdict_counts",
    "verdict_line",
]

_TEMPLATE = "compare.html.j2"

# Metric families in table order: the first part of a headline name -> its heading.
FAMILIES: dict[str, str] = {
    "latency": "Latency",
    "throughput": "Throughput",
    "memory": "Memory",
    "cold_start": "Cold start",
    "work": "Work",
    "explanations": "Explanations",
    "privacy": "Privacy",
}
_RUN_FAMILIES = ("latency", "throughput", "memory", "cold_start")  # measured per backend run


# --- the two sides -------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    label: Literal["A", "B"]
    name: str
    source: str
    sha256: str | None
    created_at: str
    device: str
    harness_version: str
    runs: tuple[str, ...]  # backend runs measured: "onnxruntime/cpu", ...

    @property
    def sha256_short(self) -> str:
        return self.sha256[:12] if self.sha256 else fmt.MISSING


def _side(label: Literal["A", "B"], result: AuditResult) -> Side:
    model = result.model
    return Side(
        label, model.name, model.source, model.sha256, result.created_at, result.device,
        result.harness_version, available_runs(result),
    )  # fmt: skip


def same_model(base: Side, current: Side) -> bool | None:
    """True when both files hash the same, False when they differ, None when a side has no
    hash (a PyTorch module) and so nothing can say."""
    if base.sha256 is None or current.sha256 is None:
        return None
    return base.sha256 == current.sha256


# --- metrics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateVerdicts:
    """The gate's decision on its default checks for these two results, made by the gate
    (``harness.commands.compare``: reports may not import it) and handed over as data."""

    outcomes: tuple[tuple[str, str | None, CheckOutcome], ...]  # (metric, run shown, outcome)
    identity: ModelIdentity | None = None  # None: worked out here from the results

    def lookup(self) -> dict[tuple[str, str | None], CheckOutcome]:
        return {(metric, run): outcome for metric, run, outcome in self.outcomes}


@dataclass(frozen=True)
class MetricRow:
    name: str  # the headline name, without "@run"
    family: str
    base: Metric
    current: Metric
    outcome: CheckOutcome
    # True: one of the gate's checks, its verdict the gate's; False: shown for context, its
    # test's result given but no verdict counted (the gate does not judge it).
    judged: bool = True

    @property
    def verdict_text(self) -> str:
        return self.outcome.verdict if self.judged else "not judged"

    @property
    def base_text(self) -> str:
        return value_text(self.base)

    @property
    def current_text(self) -> str:
        return value_text(self.current)

    @property
    def base_ci(self) -> str | None:
        return ci_text(self.base)

    @property
    def current_ci(self) -> str | None:
        return ci_text(self.current)

    @property
    def change_text(self) -> str:
        return change_text(self.outcome)

    @property
    def change_ci(self) -> str | None:
        return change_ci_text(self.outcome)

    @property
    def p_text(self) -> str:
        p = self.outcome.p_adjusted
        return fmt.MISSING if p is None else fmt.number(p, 3)


@dataclass(frozen=True)
class MetricGroup:
    """The rows of one backend run (``run`` set) or of the model itself (``run`` None:
    work and explanation scores, which no run measures), by family in table order."""

    run: str | None
    families: tuple[tuple[str, tuple[MetricRow, ...]], ...]  # (heading, rows)
    only_base: tuple[str, ...]  # metrics only A holds, not compared
    only_current: tuple[str, ...]

    @property
    def rows(self) -> tuple[MetricRow, ...]:
        return tuple(row for _, rows in self.families for row in rows)


def value_text(metric: Metric) -> str:
    """A metric's value with its unit; ``—`` when it has none."""
    value = metric.value
    if value is None:
        return fmt.MISSING
    if metric.unit == "bytes":
        return fmt.human_bytes(int(value))
    if metric.unit == "FLOPs":
        return f"{fmt.thousands(int(value))} FLOPs"
    return f"{fmt.sig4(value)} {metric.unit}".rstrip()


def ci_text(metric: Metric) -> str | None:
    """A metric's own 95% CI (throughput's), ``[1.2e+04, 1.3e+04]``; None when it has none."""
    if metric.ci is None or metric.value is None:
        return None
    return f"[{fmt.sig4(metric.ci[0])}, {fmt.sig4(metric.ci[1])}]"


def change_text(outcome: CheckOutcome) -> str:
    """``+3.2%`` (a relative check) or ``+0.012`` (an absolute one); ``—`` when unknown."""
    if outcome.change is None:
        return fmt.MISSING
    return format_change(outcome.change, outcome.check.relative)


def change_ci_text(outcome: CheckOutcome) -> str | None:
    """The change's 95% interval, ``[-1.0%, +7.5%]``; None when it is not known."""
    if outcome.change_ci is None:
        return None
    low, high = outcome.change_ci
    relative = outcome.check.relative
    return f"[{format_change(low, relative)}, {format_change(high, relative)}]"


def _family(name: str) -> str:
    return name.split(".", 1)[0]


def _run_metrics(result: AuditResult, run: str | None) -> dict[str, Metric]:
    """The metrics of RUN (efficiency families only), or of the model when RUN is None."""
    per_run = run is not None
    metrics = headline_metrics(result, run)
    return {n: m for n, m in metrics.items() if (_family(n) in _RUN_FAMILIES) == per_run}


def _shared_runs(base: AuditResult, current: AuditResult) -> tuple[str, ...]:
    theirs = set(available_runs(current))
    return tuple(key for key in available_runs(base) if key in theirs)


def compare_metrics(
    base: AuditResult, current: AuditResult, gate: GateVerdicts | None = None
) -> tuple[MetricGroup, ...]:
    """Every headline metric both results hold: per backend run both measured, then the
    model's own metrics. A metric the gate judged (GATE) carries the gate's outcome; the
    others are tested in one ``decide`` at their ``default_threshold`` for context, and
    without GATE every metric is (the verdicts then are not the gate's)."""
    scopes: list[str | None] = [*_shared_runs(base, current), None]
    runs_base = {scope: _run_metrics(base, scope) for scope in scopes}
    runs_current = {scope: _run_metrics(current, scope) for scope in scopes}
    checks = [
        replace(default_threshold(name), run=scope)
        for scope in scopes
        for name in runs_base[scope]
        if name in runs_current[scope]
    ]
    outcomes = {
        (o.check.metric, o.check.run): o for o in decide_by_run(runs_base, runs_current, checks)
    }
    judged = gate.lookup() if gate is not None else {}
    return tuple(
        _group(s, runs_base[s], runs_current[s], outcomes, judged, gate is not None) for s in scopes
    )


def _group(
    scope: str | None,
    base: Mapping[str, Metric],
    current: Mapping[str, Metric],
    outcomes: Mapping[tuple[str, str | None], CheckOutcome],
    judged: Mapping[tuple[str, str | None], CheckOutcome],
    by_gate: bool,
) -> MetricGroup:
    rows: dict[str, list[MetricRow]] = {family: [] for family in FAMILIES}
    for name in (n for n in base if n in current):
        gated = judged.get((name, scope))
        outcome = gated or outcomes[(name, scope)]
        is_judged = gated is not None or not by_gate
        rows[_family(name)].append(
            MetricRow(name, _family(name), base[name], current[name], outcome, is_judged)
        )
    return MetricGroup(
        run=scope,
        families=tuple((FAMILIES[f], tuple(r)) for f, r in rows.items() if r),
        only_base=tuple(n for n in base if n not in current),
        only_current=tuple(n for n in current if n not in base),
    )


_VERDICT_WORDS: tuple[tuple[Verdict, str, str], ...] = (
    ("regression", "regression", "regressions"),
    ("improvement", "improvement", "improvements"),
    ("pass", "unchanged", "unchanged"),
    ("inconclusive", "inconclusive", "inconclusive"),
    ("missing", "missing", "missing"),
)


def verdict_counts(groups: Iterable[MetricGroup]) -> dict[Verdict, int]:
    """The judged rows' verdicts (context rows count nowhere)."""
    counts = Counter(row.outcome.verdict for group in groups for row in group.rows if row.judged)
    return {verdict: counts.get(verdict, 0) for verdict, _, _ in _VERDICT_WORDS}


def verdict_line(counts: Mapping[Verdict, int]) -> str:
    """``2 regressions, 1 improvement, 14 unchanged, 3 inconclusive`` (missing only when
    some are)."""
    parts = [
        f"{counts.get(v, 0)} {one if counts.get(v, 0) == 1 else many}"
        for v, one, many in _VERDICT_WORDS
        if v != "missing" or counts.get(v, 0)
    ]
    return ", ".join(parts)


# --- findings -----------------------------------------------------------------------------

# A measured number in a finding's title: a decimal, a number with a unit of share or ratio
# (12%, 3.1x), or the count a title opens with ("2 redundant heads"). Identifiers that
# happen to be numbers (layer 3, batch 8, p99) are kept: they say what the finding is about.
_MEASURED = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?\s?(?:%|x\b|×)|(?<![\w.])\d*\.\d+|^\d+\b"
)


def finding_subject(finding: Finding) -> str:
    """What a finding is about, stable across runs: its title with the measured numbers
    written ``#`` (``peak memory #x the weights on onnxruntime/cpu``)."""
    return _MEASURED.sub("#", finding.title)


@dataclass(frozen=True)
class FindingChange:
    change: Literal["new", "resolved", "changed"]
    rule: str
    subject: str
    base: Finding | None  # as A has it; None for a new finding
    current: Finding | None  # as B has it; None for a resolved one

    @property
    def shown(self) -> Finding:
        found = self.current or self.base
        assert found is not None
        return found


def finding_changes(
    base: AuditResult, current: AuditResult
) -> tuple[tuple[FindingChange, ...], int]:
    """Findings only B has (new), only A has (resolved), and in both with another severity
    (changed), matched by rule id and subject; and how many are in both unchanged."""
    pending: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings(base):
        pending.setdefault((finding.rule, finding_subject(finding)), []).append(finding)
    changes: list[FindingChange] = []
    unchanged = 0
    for finding in findings(current):
        key = (finding.rule, finding_subject(finding))
        matches = pending.get(key)
        if not matches:
            changes.append(FindingChange("new", *key, None, finding))
            continue
        old = matches.pop(0)
        if old.severity != finding.severity:
            changes.append(FindingChange("changed", *key, old, finding))
        else:
            unchanged += 1
    for key, left in pending.items():
        changes += [FindingChange("resolved", *key, finding, None) for finding in left]
    order = {"new": 0, "changed": 1, "resolved": 2}
    return tuple(sorted(changes, key=lambda c: order[c.change])), unchanged


# --- the whole comparison -----------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    base: Side
    current: Side
    same_model: bool | None
    identity: ModelIdentity
    groups: tuple[MetricGroup, ...]
    unshared_runs: tuple[tuple[str, str], ...]  # (run, "A only" / "B only")
    counts: dict[Verdict, int]
    findings: tuple[FindingChange, ...]
    findings_unchanged: int
    attribution: AttributionComparison
    environment: tuple[EnvDifference, ...]
    gate_checks: tuple[str, ...] = ()  # the gate's checks whose verdicts the page counts

    @property
    def mark(self) -> str:
        """What every verdict line carries when the models differ."""
        return " (different models)" if self.identity.different else ""

    @property
    def verdict(self) -> str:
        return verdict_line(self.counts) + self.mark


def compare(
    base: AuditResult, current: AuditResult, gate: GateVerdicts | None = None
) -> Comparison:
    """Everything the comparison page shows, from A (BASE) and B (CURRENT), with the
    gate's verdicts (GATE) on the checks it judges."""
    a, b = _side("A", base), _side("B", current)
    groups = tuple(
        g for g in compare_metrics(base, current, gate) if g.rows or g.only_base or g.only_current
    )
    identity = gate.identity if gate is not None and gate.identity else None
    changes, unchanged = finding_changes(base, current)
    unshared = tuple(
        [(run, "A only") for run in a.runs if run not in b.runs]
        + [(run, "B only") for run in b.runs if run not in a.runs]
    )
    return Comparison(
        base=a,
        current=b,
        same_model=same_model(a, b),
        identity=identity or model_identity(base, current),
        groups=groups,
        unshared_runs=unshared,
        counts=verdict_counts(groups),
        findings=changes,
        findings_unchanged=unchanged,
        attribution=attribution_agreement(base, current),
        environment=environment_differences(base, current),
        gate_checks=tuple(o.check.text for _, _, o in gate.outcomes) if gate else (),
    )


# --- the page -----------------------------------------------------------------------------


def _runs_by_key(result: AuditResult) -> dict[str, BackendRun]:
    return {run_key(run): run for run in result.efficiency.runs}


def comparison_figures(base: AuditResult, current: AuditResult) -> dict[str, Markup]:
    """Per backend run both measured: latency overlaid (``compare-run<i>-latency``) and
    throughput against batch size (``compare-run<i>-throughput``), where there is data."""
    from harness.reports.figures import compare as figs
    from harness.reports.render import figure_html

    runs_a, runs_b = _runs_by_key(base), _runs_by_key(current)
    figures: dict[str, Markup] = {}
    for index, key in enumerate(_shared_runs(base, current)):
        a, b = runs_a[key], runs_b[key]
        latency = figs.latency_overlay_figure(a, b)
        if latency is not None:
            div = f"compare-run{index}-latency"
            caption = (
                f"Latency per call on {key}: the share of A's {a.latency.n} and B's "
                f"{b.latency.n} timed calls in each bin, over bins common to both (every call "
                "counted); dashed lines mark each median. The metrics table gives the "
                "percentiles, their change and its test."
            )
            figures[div] = figure_html(latency, div_id=div, caption=caption)
        throughput = figs.throughput_overlay_figure(a, b)
        if throughput is not None:
            div = f"compare-run{index}-throughput"
            caption = (
                f"Throughput on {key} against batch size for A and B, with the 95% confidence "
                "interval of each median. The metrics table gives the numbers."
            )
            figures[div] = figure_html(throughput, div_id=div, caption=caption)
    return figures


def render_comparison(
    base: AuditResult, current: AuditResult, gate: GateVerdicts | None = None
) -> str:
    """The comparison of A (BASE) and B (CURRENT) as one self-contained HTML page."""
    from harness.reports.render import plotly_js, template_environment

    comparison = compare(base, current, gate)
    figures = comparison_figures(base, current)
    template = template_environment().get_template(_TEMPLATE)
    return template.render(
        c=comparison,
        figures=figures,
        plotly_js=plotly_js() if figures else None,
        alpha=DEFAULT_ALPHA,
        top_fraction=TOP_FRACTION,
        harness_version=current.harness_version,
    )
