"""Issue 16: each scorecard is planned from the work its method was counted to cost, so a
model whose re-runs are dear gets every method's scorecard at a depth that fits instead of
a deadline cutting the later ones, and two audits plan alike whatever the machine's load.

The plan is a pure function of counts (rows, samples, the budget, a nominal rate): the
stage-level tests slow nothing down and time nothing; they make rows dear by lowering the
nominal rate (monkeypatched)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.core.config import AuditConfig
from harness.pipeline import run_audit
from harness.stages.explanations import stage as stage_module
from harness.stages.explanations import timing
from harness.stages.explanations.budget import BUDGETS
from harness.stages.explanations.scorecard_plan import (
    MethodWork,
    plan_scorecards,
    shared_rows,
)

QUICK = BUDGETS["quick"]


def plan(methods, *, pool, samples=2, floats=True, row=0.01, budget=QUICK):
    return plan_scorecards(
        methods, budget, samples=samples, floats=floats, row_seconds=row, pool_seconds=pool
    )


def test_a_scorecard_that_fits_is_the_budgets_own():
    plans = plan({"saliency": MethodWork(1, True, 21)}, pool=1000)
    full = plans["saliency"]
    assert (full.sensitivity_perturbations, full.sensitivity_samples, full.mprt_layers) == (
        QUICK.sensitivity_perturbations,
        QUICK.sensitivity_samples,
        QUICK.mprt_layers,
    )
    assert full.cut == ""


def test_a_dear_method_is_cut_down_the_ladder_in_order():
    ig = {"integrated_gradients": MethodWork(18, True, 21)}  # 54 forwards a re-run
    shared = shared_rows(QUICK, 2, True) * 0.01
    # Sensitivity gone (all of it), MPRT kept whole: 3 layers x 2 samples x 55 rows.
    just_mprt = shared + 3 * 2 * 55 * 0.01 + 1e-9  # (float sums in another order)
    cut = plan(ig, pool=just_mprt)["integrated_gradients"]
    assert (cut.sensitivity_perturbations, cut.sensitivity_samples) == (0, 0)
    assert cut.mprt_layers == 3
    assert cut.cut.startswith("no max-sensitivity:")
    # Less: the MPRT halves to 1 layer; less than the shared metrics: no MPRT at all.
    assert plan(ig, pool=just_mprt - 0.02)["integrated_gradients"].mprt_layers == 1
    bare = plan(ig, pool=shared / 2)["integrated_gradients"]
    assert bare.mprt_layers == 0 and "no randomisation check" in bare.cut


def test_sensitivity_draws_go_before_its_samples():
    work = {"m": MethodWork(1, False, 21)}  # a re-run: 1 forward a sample
    full_cost = plan(work, pool=1e9)["m"].seconds
    draws_cut = plan(work, pool=full_cost - 0.001)["m"]
    assert draws_cut.sensitivity_perturbations < QUICK.sensitivity_perturbations
    assert draws_cut.sensitivity_samples == QUICK.sensitivity_samples
    assert draws_cut.mprt_layers == QUICK.mprt_layers


def test_what_a_cheap_scorecard_leaves_goes_to_a_dear_one():
    dear = MethodWork(18, True, 21)
    alone = plan({"ig": dear, "sal": MethodWork(1, True, 21)}, pool=12.0)
    # An even split would give each 6 s; saliency needs less, so IG gets the rest.
    assert alone["sal"].cut == ""
    assert alone["ig"].seconds > 6.0
    assert alone["ig"].seconds + alone["sal"].seconds <= 12.0


def test_token_inputs_plan_no_sensitivity_and_no_infidelity():
    plans = plan({"m": MethodWork(1, True, 4)}, pool=1000, floats=False)
    assert plans["m"].sensitivity_perturbations == 0 and plans["m"].cut == ""
    assert shared_rows(QUICK, 2, False) == shared_rows(QUICK, 2, True) - 2 * 8


def test_every_layer_is_planned_from_the_layers_the_backend_has():
    thorough = BUDGETS["thorough"]  # mprt_layers None: every layer
    work = {"m": MethodWork(1, True, 12)}
    assert plan(work, pool=1e9, budget=thorough)["m"].mprt_layers is None  # all 12 fit
    six_layers = shared_rows(thorough, 2, True) * 0.01 + 6 * 2 * 4 * 0.01 + 1e-9
    small = plan(work, pool=six_layers, budget=thorough)["m"]
    assert small.mprt_layers == 6 and "randomisation check 6 of 12 layers" in small.cut


@pytest.fixture
def dear_rows(monkeypatch):
    """A nominal rate so low that the zoo CNN's rows cost what a large model's do (at
    1.5e8 FLOP/s its quick scorecards do not all fit)."""
    monkeypatch.setattr(timing, "FLOPS_PER_SECOND", 1.5e8)


def audit_cnn(*explainers: str):
    config = AuditConfig(
        model="ref:cnn",
        budget="quick",
        skip=("efficiency", "attention"),
        explainers=explainers or ("saliency", "integrated_gradients", "occlusion"),
        samples=2,
        threads=1,
    )
    return run_audit(config).explanations


def test_dear_rows_shorten_the_scorecards_and_the_result_says_what_was_cut(dear_rows):
    section = audit_cnn()
    assert section is not None and section.status == "ok"
    for method in section.methods:
        assert method.status == "ok", (method.name, method.reason)
        assert method.attributions  # every method keeps its attributions
    cuts = {k.removesuffix(".cut") for k in section.plan if k.endswith(".cut")}
    assert cuts, section.plan  # the quick budget cannot hold them all at this rate
    for method in section.methods:
        reasons = [str(m.parameters.get("skipped", "")) for m in method.metrics]
        not_planned = any(r.startswith("not planned:") for r in reasons)
        assert not_planned == (method.name in cuts), (method.name, reasons)


def test_the_plan_is_the_same_twice(dear_rows):
    assert audit_cnn().plan == audit_cnn().plan


def with_saliency_depth(monkeypatch, layers: int) -> None:
    """The stage's plan, with saliency's randomisation check at LAYERS."""
    planned = stage_module.plan_scorecards

    def plan(methods, budget, **kwargs):
        plans = planned(methods, budget, **kwargs)
        return {**plans, "saliency": replace(plans["saliency"], mprt_layers=layers)}

    monkeypatch.setattr(stage_module, "plan_scorecards", plan)


def test_a_check_the_plan_made_shallower_is_inconclusive_where_it_would_fail(monkeypatch):
    # Saliency on the CNN fails the check at the budget's 3 layers (the controls say
    # saliency's magnitudes barely move); cut to 1 layer, a fail cannot stand.
    with_saliency_depth(monkeypatch, QUICK.mprt_layers)
    (whole,) = audit_cnn("saliency").methods
    assert whole.sanity is not None and whole.sanity.status == "fail"
    with_saliency_depth(monkeypatch, 1)
    (cut,) = audit_cnn("saliency").methods
    assert cut.sanity is not None and cut.sanity.status == "inconclusive"
    assert cut.sanity.layers_planned == 1 and len(cut.sanity.layers) == 1
    assert "the plan cut the depth" in (cut.sanity.reason or "")
