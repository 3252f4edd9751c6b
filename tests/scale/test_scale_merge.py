"""Merging a method's shards: per-sample values joined, the rest weighted by samples."""

from __future__ import annotations

import pytest

from harness.core.explanations import Curve, MethodResult, MetricScore, SanityCheck
from harness.scale.merge import _merge_method


def _shard(per_sample, *, auc, sanity="pass", correlation=0.2, status="ok"):
    return MethodResult(
        name="saliency",
        status=status,
        reason="cut" if status != "ok" else None,
        metrics=(
            MetricScore("infidelity", None, False, {"perturbations": 8}, per_sample),
            MetricScore("mprt", 0.5 if sanity == "pass" else 0.9, False, {}),
        ),
        curves=(Curve("deletion", (0.0, 1.0), (1.0, auc), auc),),
        sanity=SanityCheck(
            layers=("fc", "conv"),
            correlations=(correlation, correlation / 2),
            final_correlation=correlation / 2,
            threshold=0.5,
            passed=sanity == "pass",
            status=sanity,
        ),
    )


def test_per_sample_values_are_joined_and_averaged_over_every_defined_sample():
    merged = _merge_method(
        "saliency",
        [(2, _shard((1.0, None), auc=0.2)), (3, _shard((2.0, 4.0, 6.0), auc=0.4))],
        [],
        2,
    )
    infidelity = merged.metrics[0]
    assert infidelity.per_sample == (1.0, None, 2.0, 4.0, 6.0)
    assert infidelity.value == pytest.approx((1 + 2 + 4 + 6) / 4)
    assert merged.metrics[1].value == pytest.approx(0.5)  # no per-sample values: weighted
    assert merged.curves[0].auc == pytest.approx((2 * 0.2 + 3 * 0.4) / 5)
    assert merged.curves[0].scores == pytest.approx((1.0, (2 * 0.2 + 3 * 0.4) / 5))
    assert merged.sanity is not None and merged.sanity.status == "pass"
    assert merged.parameters["shards"] == 2 and merged.status == "ok"


def test_shards_that_disagree_on_sanity_make_it_inconclusive_with_the_tally():
    merged = _merge_method(
        "saliency",
        [
            (2, _shard((1.0,), auc=0.2)),
            (2, _shard((1.0,), auc=0.2, sanity="fail", correlation=0.8)),
        ],
        [],
        2,
    )
    assert merged.sanity is not None
    assert merged.sanity.status == "inconclusive" and not merged.sanity.passed
    assert "1 pass, 1 fail" in (merged.sanity.reason or "")
    assert merged.sanity.correlations[0] == pytest.approx(0.5)


def test_a_missing_or_cut_shard_makes_the_method_incomplete_and_says_which():
    merged = _merge_method("saliency", [(2, _shard((1.0,), auc=0.2))], ["2-4"], 2)
    assert merged.status == "incomplete" and "2-4" in (merged.reason or "")
    cut = _merge_method(
        "saliency",
        [(2, _shard((1.0,), auc=0.2)), (2, _shard((), auc=0.2, status="incomplete"))],
        [],
        2,
    )
    assert cut.status == "incomplete" and "cut short" in (cut.reason or "")
    nothing = _merge_method("saliency", [], ["0-2", "2-4"], 2)
    assert nothing.status == "incomplete"


def test_a_shard_whose_stage_failed_fails_the_method_with_its_reason():
    from harness.core.config import AuditConfig
    from harness.core.explanations import ExplanationsSection
    from harness.scale.merge import merge_shards
    from harness.scale.units import WorkUnit

    class Dataset:
        count, source = 4, "--data d.npz"

    class Result:
        def __init__(self, section):
            self.explanations = section

    ok = ExplanationsSection(status="ok", methods=(_shard((1.0, 2.0), auc=0.2),))
    broken = ExplanationsSection(status="failed", reason="every attribution method failed (x)")
    units = [
        WorkUnit("shard", "m", AuditConfig("m"), "h", method="saliency", shard=bounds)
        for bounds in ((0, 2), (2, 4))
    ]
    results = {units[0].id: Result(ok), units[1].id: Result(broken)}
    merged = merge_shards(units, results, Dataset(), [])  # type: ignore[arg-type]
    assert merged.methods[0].status == "failed"
    assert "every attribution method failed" in (merged.methods[0].reason or "")
