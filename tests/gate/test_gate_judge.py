"""The judge decides on metrics handed to it: an A/B measurement arrives as data, so the
gate's verdict needs no model and no timing (planted samples here, whatever the load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.core.errors import ExitCode, UsageError
from harness.core.headline import Metric
from harness.gate.gate import GateRequest, Measurement, judge, plan_gate


def p50(scale: float) -> dict[str, Metric]:
    samples = tuple(float(x) for x in scale * np.random.default_rng(0).lognormal(0, 0.05, 200))
    return {
        "latency.p50": Metric(
            "latency.p50", float(np.median(samples)), "ms", True, "samples", samples, 0.5
        )
    }


def ab_request(**flags: Any) -> GateRequest:
    return GateRequest(Path("base.onnx"), Path("new.onnx"), ab=True, **flags)


def test_a_measurement_handed_over_is_judged_like_any_metrics():
    plan = plan_gate(ab_request(checks=("latency.p50:5%",)))
    slower = judge(plan, Measurement(p50(1.0), p50(1.5), "planted samples"))
    assert slower.exit_code == ExitCode.CHECK_FAILED
    assert [o.verdict for o in slower.outcomes] == ["regression"]
    assert slower.compared == "new.onnx against base.onnx, planted samples"
    same = judge(plan, Measurement(p50(1.0), p50(1.0), "planted samples"))
    assert same.exit_code == ExitCode.OK and same.environment == ()


def test_ab_usage_errors_come_from_the_plan_before_anything_is_measured():
    with pytest.raises(UsageError, match="drop --run"):
        plan_gate(ab_request(run="torch"))
    with pytest.raises(UsageError, match="drop --ab"):
        plan_gate(GateRequest(Path("a.json"), Path("b.onnx"), ab=True))
    with pytest.raises(UsageError, match="set how --ab measures"):
        plan_gate(GateRequest(Path("a.json"), Path("b.json"), threads=2))


def test_an_ab_plan_without_its_measurement_is_refused():
    with pytest.raises(ValueError, match="needs the measurement"):
        judge(plan_gate(ab_request()))
