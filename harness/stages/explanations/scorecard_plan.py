"""How deep each method's scorecard goes: planned from counted work, never from a timing.

Every method's attributions come first; while they run, the stage counts the rows its
forward was called on (``timing.WorkMeter``). A scorecard's cost follows from that count:

    shared metrics     infidelity, faithfulness, deletion and insertion, completeness: the
                       same rows for every method (the budget's perturbations x samples)
    max-sensitivity    re-runs the method on ``sensitivity_samples`` samples, once per draw
    MPRT               re-runs the method on every sample, once per randomised layer

Rows become nominal seconds through one row's FLOPs at the nominal rate (``timing.py``),
so the plan is the same on an idle and on a busy machine. The scorecards share what the
attributions left of the budget: each gets what it needs up to an even share, and what the
cheap ones leave goes to the others. One that does not fit is cut down a fixed ladder,
least useful first: fewer sensitivity draws, then fewer sensitivity samples, then no
max-sensitivity, then a shallower MPRT, then no MPRT. What a cut leaves out is reported as
not planned, with the plan's reason. A randomisation check the plan made shallower passes
as usual, but one that would fail is inconclusive (sanity.py: a deeper check could still
pass); its depth is recorded and the gate compares only equal depths.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from harness.stages.explanations.budget import ExplanationsBudget

__all__ = ["MethodWork", "ScorecardPlan", "plan_scorecards", "planned_depth", "shared_rows"]


@dataclass(frozen=True)
class MethodWork:
    """What re-running one method costs, and how deep its randomisation test could go."""

    rows_per_sample: float  # forward rows the method's attribution took, per sample
    backward: bool  # a gradient method: each row is a forward and a backward (3 forwards)
    layers_total: int | None  # layers its backend can randomise (None: unknown)

    @property
    def forwards_per_sample(self) -> float:
        return self.rows_per_sample * (3.0 if self.backward else 1.0)


@dataclass(frozen=True)
class ScorecardPlan:
    sensitivity_perturbations: int  # 0: max-sensitivity not planned
    sensitivity_samples: int
    mprt_layers: int | None  # None: every layer; 0: MPRT not planned
    seconds: float  # nominal seconds of the planned work
    cut: str = ""  # what the plan left out and why ("" when nothing)


def shared_rows(budget: ExplanationsBudget, samples: int, floats: bool) -> int:
    """Rows of the metrics every method shares (they do not re-run the method)."""
    per_sample = budget.faithfulness_subsets + 2 * (budget.curve_steps + 1) + 2
    if floats:
        per_sample += budget.infidelity_perturbations
    return samples * per_sample


def plan_scorecards(
    methods: Mapping[str, MethodWork],
    budget: ExplanationsBudget,
    *,
    samples: int,
    floats: bool,
    row_seconds: float,
    pool_seconds: float,
) -> dict[str, ScorecardPlan]:
    """Each method's scorecard within its share of ``pool_seconds`` (nominal)."""
    full = {name: _full(work, budget, samples, floats) for name, work in methods.items()}
    needs = {
        name: _seconds(full[name], work, budget, samples, floats, row_seconds)
        for name, work in methods.items()
    }
    shares = _water_fill(needs, max(0.0, pool_seconds))
    return {
        name: _fitted(work, full[name], budget, samples, floats, row_seconds, shares[name])
        for name, work in methods.items()
    }


def planned_depth(budget_layers: int | None, layers_total: int | None) -> int | None:
    """A randomisation check's depth: ``budget_layers``, never more than the model has
    (None: every layer)."""
    if budget_layers is None:
        return None
    if layers_total is None:
        return budget_layers
    return min(budget_layers, layers_total)


def _full(
    work: MethodWork, budget: ExplanationsBudget, samples: int, floats: bool
) -> ScorecardPlan:
    return ScorecardPlan(
        sensitivity_perturbations=budget.sensitivity_perturbations if floats else 0,
        sensitivity_samples=min(budget.sensitivity_samples, samples) if floats else 0,
        mprt_layers=planned_depth(budget.mprt_layers, work.layers_total),
        seconds=0.0,
    )


def _seconds(
    plan: ScorecardPlan,
    work: MethodWork,
    budget: ExplanationsBudget,
    samples: int,
    floats: bool,
    row_seconds: float,
) -> float:
    rerun = work.forwards_per_sample
    sensitivity = plan.sensitivity_samples * plan.sensitivity_perturbations * rerun
    layers = plan.mprt_layers if plan.mprt_layers is not None else (work.layers_total or 1)
    mprt = layers * samples * (rerun + 1)  # each step re-attributes and scores once
    return (shared_rows(budget, samples, floats) + sensitivity + mprt) * row_seconds


def _water_fill(needs: Mapping[str, float], pool: float) -> dict[str, float]:
    """Each gets what it needs up to an even share of what is left; the cheapest first, so
    what they leave goes to the dearer ones."""
    shares: dict[str, float] = {}
    left, waiting = pool, len(needs)
    for name, need in sorted(needs.items(), key=lambda item: (item[1], item[0])):
        shares[name] = min(need, left / waiting)
        left -= shares[name]
        waiting -= 1
    return shares


def _fitted(
    work: MethodWork,
    full: ScorecardPlan,
    budget: ExplanationsBudget,
    samples: int,
    floats: bool,
    row_seconds: float,
    allowance: float,
) -> ScorecardPlan:
    """The first rung of the ladder (full first) whose nominal seconds fit ``allowance``;
    the last rung (shared metrics only) when none does."""
    rungs = list(_ladder(full, work))
    for plan in rungs:
        cost = _seconds(plan, work, budget, samples, floats, row_seconds)
        if cost <= allowance or plan is rungs[-1]:
            return replace(plan, seconds=round(cost, 3), cut=_cut(full, plan, work, allowance))
    raise AssertionError("the ladder always has a last rung")


def _ladder(full: ScorecardPlan, work: MethodWork) -> Iterator[ScorecardPlan]:
    plan = full
    yield plan
    while plan.sensitivity_perturbations > 1:
        plan = replace(plan, sensitivity_perturbations=plan.sensitivity_perturbations // 2)
        yield plan
    while plan.sensitivity_samples > 1:
        plan = replace(plan, sensitivity_samples=plan.sensitivity_samples // 2)
        yield plan
    if plan.sensitivity_perturbations:
        plan = replace(plan, sensitivity_perturbations=0, sensitivity_samples=0)
        yield plan
    depth = plan.mprt_layers if plan.mprt_layers is not None else work.layers_total
    while depth is not None and depth > 1:
        depth //= 2
        plan = replace(plan, mprt_layers=depth)
        yield plan
    if plan.mprt_layers != 0:
        yield replace(plan, mprt_layers=0)


def _cut(full: ScorecardPlan, plan: ScorecardPlan, work: MethodWork, allowance: float) -> str:
    """What ``plan`` leaves out of ``full``, and why, in one line ("" when nothing)."""
    parts = []
    if plan.sensitivity_perturbations < full.sensitivity_perturbations:
        parts.append(
            "no max-sensitivity"
            if plan.sensitivity_perturbations == 0
            else f"max-sensitivity {plan.sensitivity_perturbations} draws on "
            f"{plan.sensitivity_samples} samples"
        )
    elif plan.sensitivity_samples < full.sensitivity_samples:
        parts.append(f"max-sensitivity on {plan.sensitivity_samples} samples")
    full_depth = full.mprt_layers if full.mprt_layers is not None else work.layers_total
    if plan.mprt_layers == 0:
        parts.append("no randomisation check")
    elif plan.mprt_layers != full.mprt_layers:
        parts.append(f"randomisation check {plan.mprt_layers} of {full_depth} layers")
    if not parts:
        return ""
    return (
        f"{', '.join(parts)}: re-running the method costs {work.forwards_per_sample:.3g} "
        f"forwards a sample and the scorecard's share of the budget is {allowance:.3g} "
        "nominal s (pass a larger --budget, fewer --samples or fewer --explainers)"
    )
