"""Issue 16, "partial is never a verdict": a randomisation check the deadline cut short is
``inconclusive`` with the layers it reached, never ``fail``; findings and the gate skip it,
and the gate never compares sanity correlations computed at different depths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.core.comparison import decide, parse_check
from harness.core.explanations import SanityCheck
from harness.core.headline import headline_metrics
from harness.explainers.metrics import mprt, sanity_verdict
from harness.reports.findings import findings
from harness.stages.explanations.timing import DeadlineReached
from tests.reports.test_report_findings import explanations_result


def _cascade(steps: int):
    for k in range(steps):
        yield f"layer{k}", k + 1


def _stops_at(step: int):
    """explain(state): attributions that change with the state, the deadline at STEP."""

    def explain(state: int):
        import torch

        if state >= step:
            raise DeadlineReached("the stage's deadline passed")
        rng = np.random.default_rng(state)
        return torch.from_numpy(rng.standard_normal((2, 10)))

    return explain


def test_a_cut_cascade_keeps_its_steps_and_is_inconclusive():
    result = mprt(_stops_at(2), 0, _cascade(4), interruptions=(DeadlineReached,))
    assert result.parameters["complete"] == 0
    assert result.parameters["n_layers"] == 1 and result.parameters["layers"] == "layer0"
    assert "deadline" in str(result.parameters["interrupted"])
    assert sanity_verdict(result) == "inconclusive"


def test_a_whole_cascade_gets_a_verdict():
    result = mprt(_stops_at(99), 0, _cascade(3), interruptions=(DeadlineReached,))
    assert result.parameters["complete"] == 1
    assert sanity_verdict(result) in ("pass", "fail")


def test_without_interruptions_the_deadline_propagates():
    with pytest.raises(DeadlineReached):
        mprt(_stops_at(1), 0, _cascade(3))


def _with_sanity(sanity: SanityCheck):
    result = explanations_result()
    section = result.explanations
    assert section is not None
    methods = tuple(replace(m, sanity=sanity) for m in section.methods)
    return replace(result, explanations=replace(section, methods=methods))


INCONCLUSIVE = SanityCheck(
    layers=("/fc/Gemm",),
    correlations=(0.7,),
    final_correlation=0.7,
    threshold=0.5,
    passed=False,
    layers_total=88,
    status="inconclusive",
    layers_planned=3,
    reason="1 of 3 planned layers randomised before the stage's deadline passed",
)


def test_an_inconclusive_check_is_no_finding_and_no_gate_value():
    result = _with_sanity(INCONCLUSIVE)
    assert not [f for f in findings(result) if f.rule == "explanations.sanity_failed"]
    sanity = {k: m for k, m in headline_metrics(result).items() if k.endswith(".sanity")}
    assert sanity and all(m.value is None for m in sanity.values())
    assert all("1 of 3 planned layers" in (m.note or "") for m in sanity.values())


def test_the_same_check_complete_still_fails():
    failing = replace(INCONCLUSIVE, status="fail", layers=("a", "b", "c"))
    found = [f for f in findings(_with_sanity(failing)) if f.rule == "explanations.sanity_failed"]
    assert found  # its severity is the findings' rule's; here only that it is found


def test_the_gate_does_not_compare_sanity_at_different_depths():
    shallow = replace(INCONCLUSIVE, status="pass", passed=True, final_correlation=0.3)
    deep = replace(shallow, layers_planned=6, final_correlation=0.31)
    base = headline_metrics(_with_sanity(shallow))
    current = headline_metrics(_with_sanity(deep))
    name = next(k for k in base if k.endswith(".sanity"))
    (outcome,) = decide(base, current, [parse_check(f"{name}:0.1")])
    assert outcome.verdict == "inconclusive"
    assert "not comparable" in outcome.reason
    (same,) = decide(base, base, [parse_check(f"{name}:0.1")])
    assert same.verdict == "pass"


def test_the_report_shows_an_inconclusive_check_without_a_verdict():
    from harness.reports import render_report

    html = render_report(_with_sanity(INCONCLUSIVE))
    assert "Do not trust its attributions" not in html
    assert "inconclusive" in html and "1 of 3 planned layers" in html
