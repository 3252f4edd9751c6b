"""Compare and the gate are one judge, and neither judges two different models (issue 17)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.cli import main
from harness.commands.compare import judge as compare_judge
from harness.gate.gate import GateRequest, judge, plan_gate
from tests.gate.result_edits import plant_latency, resample_latency, scale_latency

DIFFERENT = "are results of different models"
NOISE_FIRST = "every\n  difference below is run-to-run noise unless the judge says otherwise"


def another_model(data: dict[str, Any]) -> None:
    """The result of another model: another file, name, input and graph."""
    model = data["model"]
    model["sha256"] = "0" * 64
    model["name"] = "transformer_trigger"
    model["inputs"][0]["name"] = "tokens"
    model["op_histogram"] = {"MatMul": 12, "Softmax": 2}


def another_file(data: dict[str, Any]) -> None:
    """The same model re-exported: only the file's hash differs."""
    data["model"]["sha256"] = "f" * 64


def scale_throughput(factor: float) -> Any:
    """Every throughput point of the first run FACTOR times as fast, its CI +-1% around
    it: two runs' CIs that do not overlap, as drift between two audits leaves them."""

    def edit(data: dict[str, Any]) -> None:
        for point in data["efficiency"]["runs"][0]["throughput"]["points"]:
            estimate = point["samples_per_s"]
            estimate["value"] *= factor
            estimate["ci_low"], estimate["ci_high"] = (
                estimate["value"] * 0.99,
                estimate["value"] * 1.01,
            )

    return edit


def test_the_gate_refuses_two_different_models(audited, edited, capsys):
    assert main(["gate", str(audited), str(edited(another_model))]) == 2
    err = capsys.readouterr().err
    assert f"BASE and CURRENT {DIFFERENT}" in err
    assert "name 'cnn_digits' vs 'transformer_trigger'" in err
    assert "--allow-different-models" in err


def test_compare_refuses_two_different_models(audited, edited, tmp_path, capsys):
    page = tmp_path / "diff.html"
    args = ["compare", str(audited), str(edited(another_model)), "-o", str(page)]
    assert main(args) == 2
    assert f"A and B {DIFFERENT}" in capsys.readouterr().err
    assert not page.exists()


def test_allowed_different_models_are_said_on_every_gate_line(audited, edited, capsys):
    args = ["gate", str(audited), str(edited(another_model)), "--allow-different-models"]
    main(args)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if re.search(r"\b(pass|regression)\b", line)]
    assert lines
    assert all("(different models)" in line for line in lines), out
    assert out.strip().splitlines()[-1].endswith("(different models)")


def test_allowed_different_models_are_said_on_every_compare_verdict(audited, edited, tmp_path):
    page = tmp_path / "diff.html"
    args = ["compare", str(audited), str(edited(another_model)), "-o", str(page)]
    assert main([*args, "--allow-different-models"]) == 0
    html = page.read_text()
    cells = re.findall(r'<span class="status status-\w+">([^<]*)</span>', html)
    assert cells
    assert all(cell.endswith("(different models)") for cell in cells), cells
    assert "<strong>Two different models</strong>" in html


def test_the_same_model_from_another_file_is_judged_and_said(audited, edited, capsys):
    assert main(["gate", str(audited), str(edited(another_file))]) == 0
    assert "the same model from another file" in capsys.readouterr().out


def test_a_page_of_one_file_says_first_that_differences_are_noise(audited, edited, tmp_path):
    page = tmp_path / "diff.html"
    current = edited(resample_latency(seed=3))
    assert main(["compare", str(audited), str(current), "-o", str(page)]) == 0
    html = page.read_text()
    assert NOISE_FIRST in html
    assert html.index(NOISE_FIRST) < html.index('<p class="verdict"><strong>')


@pytest.mark.parametrize(
    "edit",
    [
        resample_latency(seed=2),
        scale_latency(1.3),
        scale_latency(0.7),
        plant_latency(median_ms=0.105),
        scale_throughput(1.4),
    ],
)
def test_compare_and_the_gate_give_the_same_verdict_per_check(audited, edited, edit):
    current = edited(edit)
    outcomes = judge(plan_gate(GateRequest(audited, current))).outcomes
    gated = {o.check.metric: o.verdict for o in outcomes}
    page = compare_judge(audited, current)
    judged = {row.name: row.outcome.verdict for g in page.groups for row in g.rows if row.judged}
    assert judged == gated
    assert page.counts["regression"] == list(gated.values()).count("regression")


def test_an_a_a_throughput_change_is_neither_an_improvement_nor_a_regression(audited, edited):
    base = edited(scale_throughput(1.0), name="base")
    for factor, verdict in ((1.4, "pass"), (0.6, "inconclusive")):
        current = edited(scale_throughput(factor), name=f"x{factor}")
        request = GateRequest(base, current, checks=("throughput.max:-10%",))
        (outcome,) = judge(plan_gate(request)).outcomes
        assert outcome.verdict == verdict, outcome.reason
        assert "separate runs" in outcome.reason


def test_throughput_still_decides_on_interleaved_calls() -> None:
    from harness.core.comparison import decide, parse_check
    from harness.core.headline import Metric

    def metric(value: float) -> Metric:
        ci = (value * 0.98, value * 1.02)
        return Metric("throughput.max", value, "samples/s", False, "interval", ci=ci)

    base, faster = {"throughput.max": metric(100.0)}, {"throughput.max": metric(140.0)}
    check = parse_check("throughput.max:-10%")
    (outcome,) = decide(base, faster, [check], separate_runs=False)
    assert outcome.verdict == "improvement"
