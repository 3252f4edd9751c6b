"""A/B mode: two ONNX models timed in one process, interleaved, judged by ``decide``."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.gate_error_rates import add_side_work
from harness.core.comparison import decide, parse_check
from harness.core.errors import ModelLoadError, UsageError
from harness.stages.efficiency.ab import measure_ab, sample_metrics
from harness.testing import onnx_builders
from tests.stages.efficiency.ab_clock import plant_ab_times

CNN = Path(__file__).resolve().parents[3] / "models" / "zoo" / "cnn_digits.onnx"
LATENCY = ("latency.p50", "latency.p90", "latency.p95", "latency.p99", "latency.mean")


def test_a_model_against_itself_is_no_regression(monkeypatch: pytest.MonkeyPatch) -> None:
    # Planted times: a real same-vs-same verdict depends on the load while it runs.
    plant_ab_times(monkeypatch, base_ms=1.0, candidate_ms=1.0)
    ab = measure_ab(CNN, CNN, budget="quick", threads=1)
    for side in (ab.base, ab.candidate):
        assert set(LATENCY) <= set(side)
        p50 = side["latency.p50"]
        assert p50.kind == "samples" and p50.quantile == 0.5 and p50.value is not None
        assert len(p50.samples) == ab.rounds * ab.calls_per_round
        assert side["latency.mean"].quantile is None
    assert ab.description.startswith(f"2 x {ab.rounds} rounds of {ab.calls_per_round} calls")
    assert ab.settings["intra_op_threads"] == "1"
    (outcome,) = decide(ab.base, ab.candidate, [parse_check("latency.p50:25%")])
    assert outcome.verdict != "regression", outcome.reason


def test_a_much_slower_candidate_is_a_regression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slower = add_side_work(CNN, 1024, tmp_path / "slower.onnx")  # about 3x the CNN's time
    # The 3x is planted: measured, it is detected only while the machine is quiet enough.
    plant_ab_times(monkeypatch, base_ms=1.0, candidate_ms=3.0)
    ab = measure_ab(CNN, slower, budget="quick", threads=1)
    (outcome,) = decide(ab.base, ab.candidate, [parse_check("latency.p50:10%")])
    assert outcome.verdict == "regression", outcome.reason


def test_candidate_with_other_inputs_is_refused(tmp_path: Path) -> None:
    other = onnx_builders.two_in_two_out(tmp_path)
    with pytest.raises(UsageError, match="both models must take the same inputs") as caught:
        measure_ab(CNN, other, budget="quick", threads=1)
    assert "\n" not in str(caught.value)


def test_a_bad_file_gets_the_audit_error(tmp_path: Path) -> None:
    broken = onnx_builders.text_file_as_onnx(tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        measure_ab(CNN, broken, budget="quick")
    assert "\n" not in str(caught.value)


def test_unknown_budget_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="budget"):
        measure_ab(CNN, CNN, budget="forever")


def test_a_percentile_below_its_minimum_samples_has_a_note() -> None:
    metrics = sample_metrics([1.0 + i / 100 for i in range(100)])
    assert metrics["latency.p90"].value is not None
    p99 = metrics["latency.p99"]
    assert p99.value is None and p99.samples and p99.quantile == 0.99
    assert p99.note == "insufficiently sampled: 100 calls, needs 662"
