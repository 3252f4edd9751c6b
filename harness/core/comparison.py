"""Is CURRENT worse than BASE? The decision the gate and the compare report share.

A check names a headline metric (``harness.core.headline``) and a threshold. Its verdict:

- ``regression``: the change goes the bad way by more than the threshold AND is
  significant: for raw timing samples, a one-sided test whose Holm-adjusted p-value across
  all sampled checks is below ``alpha``. Samples timed interleaved in one process (the
  gate's A/B mode) are tested call by call: Mann-Whitney U for the median and mean, a
  permutation test for a tail percentile. Samples of two separate runs (two audits: the
  gate's file mode, compare) are tested as runs: each run is cut into ``RUN_BLOCKS``
  consecutive blocks and Mann-Whitney U compares the blocks' statistics, since calls of one
  run share the machine's drift and a call-by-call test would call any drift significant.
  For a metric known by its 95% CI (throughput), the two CIs do not overlap, and only in
  one process: a CI holds no drift between two separate runs; for a single
  number (memory, FLOPs, explanation scores), the threshold alone decides.
- ``improvement``: the same, the good way.
- ``inconclusive``: the change passes the threshold but is not significant, or there are
  too few samples to tell (fewer than ``MIN_SAMPLES`` calls, or ``MIN_RUN_BLOCKS`` blocks
  of ``MIN_BLOCK_CALLS`` calls, or an insufficiently sampled percentile).
  Never reported as pass or fail.
- ``pass``: within the threshold (a significant but small change is still a pass).
- ``missing``: one of the results does not hold the metric, or neither computed it.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from harness.core.errors import UsageError
from harness.core.headline import Metric
from harness.core.stats import (
    MIN_SAMPLES,
    SampleTest,
    block_ratio_ci,
    block_statistics,
    holm,
    mann_whitney,
    quantile_permutation_test,
    ratio_ci,
)

__all__ = [
    "DEFAULT_AB_CHECKS",
    "DEFAULT_ALPHA",
    "DEFAULT_CHECKS",
    "Check",
    "CheckOutcome",
    "Verdict",
    "decide",
    "decide_by_run",
    "default_threshold",
    "expand_checks",
    "format_change",
    "parse_check",
]

Verdict = Literal["pass", "regression", "improvement", "inconclusive", "missing"]

# asv uses p < 0.002 on one comparison; checks here are Holm-corrected as a family.
DEFAULT_ALPHA = 0.01

# Separate runs are compared as RUN_BLOCKS blocks each (10 vs 10: the smallest one-sided
# Mann-Whitney p is 5.4e-6), with at least MIN_BLOCK_CALLS calls per block; below
# MIN_RUN_BLOCKS blocks (5 vs 5: p >= 0.004) a timing check is inconclusive.
RUN_BLOCKS = 10
MIN_BLOCK_CALLS = 10
MIN_RUN_BLOCKS = 5


@dataclass(frozen=True)
class Check:
    """One metric and how far it may move the bad way before the build fails."""

    metric: str  # a headline metric name, or a pattern ("explanations.*.sanity")
    threshold: float  # >= 0; a fraction of the base when ``relative``
    relative: bool
    run: str | None = None  # "torch", "onnxruntime/cuda": the backend run; None: the first
    # Written with a minus ("throughput.max:-5%") and shown the same way; not part of what
    # the check means, so not of its equality.
    falling: bool = field(default=False, compare=False)

    @property
    def text(self) -> str:
        amount = f"{self.threshold * 100:g}%" if self.relative else f"{self.threshold:g}"
        amount = f"-{amount}" if self.falling else amount
        suffix = f"@{self.run}" if self.run else ""
        return f"{self.metric}{suffix}:{amount}"


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    verdict: Verdict
    unit: str
    lower_is_better: bool | None
    base: float | None
    current: float | None
    change: float | None  # current/base - 1 when the check is relative, else current - base
    change_ci: tuple[float, float] | None  # 95% interval of ``change``, when known
    test: str  # "Mann-Whitney U", "permutation on p99", "CI overlap", "threshold"
    p_value: float | None  # one-sided, in the direction of the change
    p_adjusted: float | None  # Holm-adjusted across the sampled checks
    reason: str  # the verdict, in words


# Used when a gate is given no checks. Two audits run in separate processes, minutes apart,
# and a process's median moves with it (memory layout, clocks, neighbours): on this
# project's shared 2-core machine two audits of one model differed by up to 8% in p50 when
# it was quiet and 17% when loaded (benchmarks/gate_error_rates.py), so file mode's
# defaults sit above that. The A/B mode's interleaved samples differed by at most 3.5%.
# Issue 17 (benchmarks/compare_aa.py, 20 pairs of audits of one file on that machine
# shared by several jobs): p50 moved by up to +25% when one audit ran under load, every
# block of it slower (a run-level test cannot tell a loaded run from a slower model), and
# p90 by up to +43%; so the median's default sits above that and tails are not judged by
# default. Throughput's CI cannot show a change between two separate runs (``_judge``).
# Name them with --check to judge them anyway; --ab judges interleaved calls, far tighter.
DEFAULT_CHECKS: tuple[str, ...] = (
    "latency.p50:30%",
    "memory.peak_inference:10%",
)
DEFAULT_AB_CHECKS: tuple[str, ...] = ("latency.p50:5%", "latency.p90:10%")


def default_threshold(metric: str) -> Check:
    """The threshold compare (two audits, so file mode) uses for METRIC when no check
    names it; the gate's ``DEFAULT_CHECKS`` agree with it."""
    family = metric.split(".", 1)[0]
    if metric in ("latency.p50", "latency.mean"):
        return Check(metric, 0.30, relative=True)  # DEFAULT_CHECKS: medians of loaded audits
    if metric in ("latency.p90", "latency.p95", "latency.p99"):
        return Check(metric, 0.50, relative=True)  # tails move more run to run than medians
    relative_defaults = {
        "latency": 0.10, "throughput": 0.10, "memory": 0.10, "cold_start": 0.25,
    }  # fmt: skip
    if family in relative_defaults:
        return Check(metric, relative_defaults[family], relative=True)
    if family == "work":
        return Check(metric, 0.0, relative=True)
    return Check(metric, 0.05, relative=False)


def parse_check(text: str, lower_is_better: Mapping[str, bool] | None = None) -> Check:
    """Parse ``NAME[@RUN]:THRESHOLD``: ``latency.p50:5%``, ``throughput.max:-5%``,
    ``explanations.saliency.sanity:0.1``, ``latency.p99@torch:20%``.

    The threshold is how far the metric may move the bad way, whichever way that is; a
    minus sign (``throughput.max:-5%``, a drop) may say so for higher-is-better metrics and
    is refused for those in LOWER_IS_BETTER (name -> direction) that get worse as they rise.
    """
    name, sep, amount = text.strip().rpartition(":")
    if not sep or not name or not amount:
        raise UsageError(
            f"check {text!r} is not NAME:THRESHOLD; write e.g. 'latency.p50:5%' or "
            "'explanations.saliency.sanity:0.1'"
        )
    metric, _, run = name.partition("@")
    relative = amount.endswith("%")
    number = amount[:-1] if relative else amount
    try:
        value = float(number)
    except ValueError:
        raise UsageError(
            f"check {text!r}: threshold {amount!r} is not a number; write e.g. '5%' or '0.1'"
        ) from None
    if not math.isfinite(value):
        raise UsageError(f"check {text!r}: threshold must be finite")
    if value < 0 and lower_is_better is not None and lower_is_better.get(metric, False):
        raise UsageError(
            f"check {text!r}: {metric} gets worse as it rises; give a positive threshold "
            "(a threshold is how far the metric may move the bad way)"
        )
    return Check(metric, abs(value) / (100 if relative else 1), relative, run or None, value < 0)


def expand_checks(checks: Iterable[Check], names: Iterable[str]) -> tuple[Check, ...]:
    """Replace pattern checks ("explanations.*.sanity") by one check per matching name; a
    later check on the same metric replaces an earlier one (a policy's per-model entry
    overrides its defaults)."""
    available = sorted(set(names))
    expanded: dict[tuple[str, str | None], Check] = {}
    for check in checks:
        if any(ch in check.metric for ch in "*?["):
            for name in fnmatch.filter(available, check.metric):
                expanded[(name, check.run)] = replace(check, metric=name)
        else:
            expanded[(check.metric, check.run)] = check
    return tuple(expanded.values())


def decide(
    base: Mapping[str, Metric],
    current: Mapping[str, Metric],
    checks: Sequence[Check],
    *,
    alpha: float = DEFAULT_ALPHA,
    separate_runs: bool = True,
) -> tuple[CheckOutcome, ...]:
    """Judge every check on BASE's and CURRENT's metrics (by name, already picked from the
    right backend run), Holm-correcting the sampled ones together. SEPARATE_RUNS: the
    samples come from two runs (test blocks); False for samples timed interleaved in one
    process (test calls)."""
    drafts = [
        _judge(check, base.get(check.metric), current.get(check.metric), separate_runs)
        for check in checks
    ]
    tested = [i for i, draft in enumerate(drafts) if draft.p_value is not None]
    adjusted = holm([drafts[i].p_value or 0.0 for i in tested])
    outcomes = list(drafts)
    for index, p_adjusted in zip(tested, adjusted, strict=True):
        outcomes[index] = _settle(drafts[index], p_adjusted, alpha)
    return tuple(outcomes)


def decide_by_run(
    base: Mapping[str | None, Mapping[str, Metric]],
    current: Mapping[str | None, Mapping[str, Metric]],
    checks: Sequence[Check],
    *,
    alpha: float = DEFAULT_ALPHA,
    separate_runs: bool = True,
) -> tuple[CheckOutcome, ...]:
    """``decide`` over checks on several backend runs at once, as ONE Holm family: each
    check reads the metrics of its ``run`` (BASE and CURRENT map a run, or None, to that
    run's metrics by name). The outcomes carry the checks as given."""
    flat_base: dict[str, Metric] = {}
    flat_current: dict[str, Metric] = {}
    keyed = []
    for check in checks:
        key = _run_key(check)
        for flat, side in ((flat_base, base), (flat_current, current)):
            metric = side.get(check.run, {}).get(check.metric)
            if metric is not None:
                flat[key] = metric
        keyed.append(replace(check, metric=key, run=None))
    outcomes = decide(flat_base, flat_current, keyed, alpha=alpha, separate_runs=separate_runs)
    return tuple(
        replace(outcome, check=check, reason=outcome.reason.replace(_run_key(check), check.metric))
        for outcome, check in zip(outcomes, checks, strict=True)
    )


def _run_key(check: Check) -> str:
    return check.metric if check.run is None else f"{check.metric}@{check.run}"


def _judge(
    check: Check, base: Metric | None, current: Metric | None, separate_runs: bool
) -> CheckOutcome:
    """A verdict for every kind but "samples", whose verdict waits for Holm (``_settle``)."""
    if base is None or current is None:
        where = "base" if base is None else "current"
        return _outcome(check, None, None, "missing", f"the {where} result has no {check.metric}")
    unit, lower = current.unit, current.lower_is_better
    if base.value is None and current.value is None and not (base.note or current.note):
        # Undefined for this model on both sides (completeness of a method without a
        # baseline, say): nothing to judge, and nothing that should hold up a build.
        return _outcome(check, base, current, "missing", f"{check.metric} is not computed")
    if base.unit != current.unit:  # a sanity correlation after 3 layers is not one after 6
        return _outcome(
            check, base, current, "inconclusive",
            f"{check.metric} is in {base.unit or 'no unit'} in the base and in "
            f"{current.unit or 'no unit'} in the current result: not comparable",
        )  # fmt: skip
    if base.value is None or current.value is None:
        note = base.note if base.value is None else current.note
        return _outcome(
            check, base, current, "inconclusive", note or f"{check.metric} was not computed"
        )
    change = _change(check, base.value, current.value)
    beyond = _beyond(check, change, lower)
    if base.kind == "samples" and current.kind == "samples":
        if separate_runs:
            return _sampled_runs(check, base, current, change)
        return _sampled(check, base, current, change)
    if base.kind == "interval" and base.ci and current.ci:
        overlap = base.ci[0] <= current.ci[1] and current.ci[0] <= base.ci[1]
        # Each CI is of calls within ONE run: two separate runs' CIs hold none of the drift
        # between them (two audits of one file moved throughput.max by +-25% with CIs apart),
        # so there they cannot show a change, either way: the bad way is inconclusive, the
        # good way a pass, never an "improvement" on weaker evidence than a regression needs.
        why = "the 95% CIs overlap" if overlap else None
        if separate_runs and not overlap:
            why = "two separate runs: each 95% CI holds no run-to-run drift (use --ab)"
        verdict = _verdict(beyond, significant=why is None)
        reason = _reason(check, change, beyond, why)
        return CheckOutcome(
            check, verdict, unit, lower, base.value, current.value, change, None,
            "CI overlap", None, None, reason,
        )  # fmt: skip
    verdict = _verdict(beyond, significant=True)
    return CheckOutcome(
        check, verdict, unit, lower, base.value, current.value, change, None,
        "threshold", None, None, _reason(check, change, beyond, None),
    )  # fmt: skip


def _sampled(check: Check, base: Metric, current: Metric, change: float) -> CheckOutcome:
    assert base.value is not None and current.value is not None
    fewest = min(len(base.samples), len(current.samples))
    if fewest < MIN_SAMPLES:
        return _outcome(
            check, base, current, "inconclusive",
            f"{fewest} samples; a timing check needs at least {MIN_SAMPLES} on each side",
        )  # fmt: skip
    rose = current.value > base.value
    test = _sample_test(base, current, "greater" if rose else "less")
    low, high = ratio_ci(base.samples, current.samples, current.quantile)
    change_ci = (low - 1, high - 1) if check.relative else None
    return CheckOutcome(
        check, "pass", current.unit, current.lower_is_better, base.value, current.value,
        change, change_ci, test.test, test.p_value, None, "awaiting the Holm correction",
    )  # fmt: skip


def _sampled_runs(check: Check, base: Metric, current: Metric, change: float) -> CheckOutcome:
    assert base.value is not None and current.value is not None
    blocks = min(RUN_BLOCKS, min(len(base.samples), len(current.samples)) // MIN_BLOCK_CALLS)
    if blocks < MIN_RUN_BLOCKS:
        return _outcome(
            check, base, current, "inconclusive",
            f"too few calls to cut each run into {MIN_RUN_BLOCKS} blocks of "
            f"{MIN_BLOCK_CALLS}; audit with a larger --budget",
        )  # fmt: skip
    base_blocks = block_statistics(base.samples, blocks, current.quantile)
    current_blocks = block_statistics(current.samples, blocks, current.quantile)
    rose = current.value > base.value
    test = mann_whitney(base_blocks, current_blocks, "greater" if rose else "less")
    low, high = block_ratio_ci(base_blocks, current_blocks)
    return CheckOutcome(
        check, "pass", current.unit, current.lower_is_better, base.value, current.value,
        change, (low - 1, high - 1) if check.relative else None,
        f"Mann-Whitney U on {blocks} blocks per run", test.p_value, None,
        "awaiting the Holm correction",
    )  # fmt: skip


def _sample_test(base: Metric, current: Metric, alternative: str) -> SampleTest:
    if current.quantile is None or current.quantile == 0.5:
        return mann_whitney(base.samples, current.samples, alternative)
    return quantile_permutation_test(base.samples, current.samples, current.quantile, alternative)


def _settle(draft: CheckOutcome, p_adjusted: float, alpha: float) -> CheckOutcome:
    assert draft.change is not None and draft.lower_is_better is not None
    beyond = _beyond(draft.check, draft.change, draft.lower_is_better)
    significant = p_adjusted < alpha
    verdict = _verdict(beyond, significant)
    why = None if significant else f"not significant (Holm-adjusted p {p_adjusted:.3g})"
    reason = _reason(draft.check, draft.change, beyond, why)
    if significant:
        reason += f" (Holm-adjusted p {p_adjusted:.3g} < {alpha:g})"
    return replace(draft, verdict=verdict, p_adjusted=p_adjusted, reason=reason)


def _change(check: Check, base: float, current: float) -> float:
    if not check.relative:
        return current - base
    if base == 0:
        return 0.0 if current == 0 else math.copysign(math.inf, current)
    return current / base - 1


def _beyond(check: Check, change: float, lower_is_better: bool) -> str | None:
    """ "worse" or "better" when CHANGE passes the threshold, else None."""
    if abs(change) <= check.threshold or change == 0:
        return None
    rose = change > 0
    return "worse" if rose == lower_is_better else "better"


def _verdict(beyond: str | None, significant: bool) -> Verdict:
    if beyond is None:
        return "pass"
    if beyond == "worse":
        return "regression" if significant else "inconclusive"
    return "improvement" if significant else "pass"


def format_change(change: float, relative: bool) -> str:
    """A change as the gate, compare and every verdict's reason write it: ``+3.2%`` for a
    relative check, ``+0.012`` for an absolute one, ``+∞`` from a base of zero."""
    if math.isinf(change):
        return "+∞" if change > 0 else "−∞"
    return f"{change * 100:+.1f}%" if relative else f"{change:+.4g}"


def _reason(check: Check, change: float, beyond: str | None, not_significant: str | None) -> str:
    amount = format_change(change, check.relative)
    limit = f"{check.threshold * 100:g}%" if check.relative else f"{check.threshold:g}"
    if beyond is None:
        return f"{amount}, within {limit}"
    text = f"{amount}, {beyond} than the {limit} threshold"
    return f"{text}, but {not_significant}" if not_significant else text


def _outcome(
    check: Check, base: Metric | None, current: Metric | None, verdict: Verdict, reason: str
) -> CheckOutcome:
    known = current or base
    return CheckOutcome(
        check, verdict, known.unit if known else "", known.lower_is_better if known else None,
        base.value if base else None, current.value if current else None,
        None, None, "none", None, None, reason,
    )  # fmt: skip
