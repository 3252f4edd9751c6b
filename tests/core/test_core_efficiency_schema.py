"""The efficiency section in result.json: closed in the schema, every field round-trips."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from harness.core import efficiency
from harness.core.efficiency import (
    BackendRun,
    ColdStart,
    EfficiencySection,
    Estimate,
    LatencyStats,
    MemoryPeaks,
    NodeFlops,
    NodeTime,
    OpFlops,
    OpProfile,
    OpTime,
    Roofline,
    Throughput,
    ThroughputPoint,
    Work,
)
from harness.core.result import AuditResult
from tests.core.schema_checks import (
    assert_closed_defs,
    assert_result_points_at_def,
    result_validator,
    set_path,
)
from tests.core.test_core_result import make_result


def _estimate(value: float) -> Estimate:
    return Estimate(value, 0.98 * value, 1.03 * value, insufficient=False, min_samples=8)


INSUFFICIENT = Estimate(None, None, None, insufficient=True, min_samples=662)


def _latency(batch_size: int) -> LatencyStats:
    return LatencyStats(
        batch_size=batch_size,
        n=4,  # len(samples_ms): a reader refuses a count that disagrees
        min_ms=1.1,
        mean_ms=1.25,
        std_ms=0.05,
        cv=0.04,
        max_ms=2.5,
        percentiles_ms={
            "p50": _estimate(1.2),
            "p90": _estimate(1.3),
            "p95": _estimate(1.4),
            "p99": INSUFFICIENT,
        },
        warmup_calls=30,
        warmup_settled=True,
        sampling_seconds=0.25,
        stopped_because="ci within target",
        target_ci_rel_width=0.02,
        samples_ms=(1.2, 1.1, 1.3, 2.5),
    )


def full_section() -> EfficiencySection:
    """Every field populated: one run with all optional parts, one with none of them."""
    complete = BackendRun(
        backend="onnxruntime",
        device="cuda",
        settings={"intra_op_threads": "2", "providers": "CUDAExecutionProvider"},
        cold_start=ColdStart(load_ms=12.5, session_ms=80.0, first_call_ms=15.0),
        latency=_latency(1),
        throughput=Throughput(
            points=(
                ThroughputPoint(1, _estimate(830.0), latency_p50_ms=1.2, n=200),
                ThroughputPoint(2, _estimate(1500.0), latency_p50_ms=1.33, n=150),
            ),
            best_batch_size=2,
            stopped_because="budget limit",
        ),
        memory=MemoryPeaks(
            method="vmhwm",
            baseline_rss_bytes=300_000_000,
            session_peak_bytes=40_000_000,
            inference_peak_bytes=5_000_000,
            weight_bytes=36_392,
            gpu_peak_bytes=1_048_576,
        ),
        roofline=Roofline(
            peak_gflops=120.0,
            peak_matmul_size=1024,
            bandwidth_gbs=20.0,
            achieved_gflops=1.0,
            percent_of_peak=0.83,
            arithmetic_intensity=5.7,
            ridge_intensity=6.0,
        ),
        op_profile=OpProfile(
            runs=10,
            by_op=(OpTime("Conv", count=2, mean_us=800.0, share=0.8),),
            slowest_nodes=(NodeTime("/features/features.3/Conv", "Conv", mean_us=600.0),),
        ),
        host_device_copy_ms=0.05,
    )
    bare = BackendRun(
        backend="torch",
        device="cpu",
        settings={},
        cold_start=ColdStart(load_ms=3.0, session_ms=0.0, first_call_ms=4.0),
        latency=_latency(1),
        throughput=None,
        memory=None,
        roofline=None,
        op_profile=None,
    )
    return EfficiencySection(
        status="ok",
        reason=None,
        budget="quick",
        isolation="subprocess",
        runs=(complete, bare),
        work=Work(
            batch_size=1,
            flops=1_216_788,
            macs=580_160,
            by_op=(OpFlops("Conv", 2, 1_147_776, 564_480), OpFlops("Flatten", 1, 0, 0)),
            top_nodes=(NodeFlops("/features/features.3/Conv", "Conv", 909_440),),
            uncounted_ops=("com.example.MysteryOp",),
            weight_bytes=36_392,
            activation_bytes=175_696,
            arithmetic_intensity=5.74,
        ),
        not_measured={"onnxruntime/cpu": "skipped: --backend torch"},
    )


def _result() -> AuditResult:
    return replace(make_result(), efficiency=full_section())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return result_validator()


def test_a_full_efficiency_section_validates(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(_result().to_dict())


def test_a_full_efficiency_section_round_trips() -> None:
    result = _result()
    back = AuditResult.from_json(result.to_json())
    assert back == result
    assert back.efficiency.runs[0].latency.percentiles_ms["p99"] == INSUFFICIENT


def test_a_skipped_section_validates(validator: jsonschema.Draft202012Validator) -> None:
    result = replace(make_result(), efficiency=EfficiencySection("skipped", "--skip efficiency"))
    validator.validate(result.to_dict())


def test_every_efficiency_dataclass_has_a_closed_def_with_its_fields() -> None:
    """Each dataclass of harness.core.efficiency is a $def of the same name that lists
    exactly its fields, requires them all, and spells its Literal fields as enums."""
    assert_closed_defs(efficiency)


def test_the_result_points_efficiency_at_its_def() -> None:
    assert_result_points_at_def(_result().to_dict(), "efficiency", "EfficiencySection")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("extra",), 1),
        (("runs", 0, "backend"), "tensorflow"),
        (("runs", 0, "device"), "tpu"),
        (("runs", 0, "memory", "method"), "guess"),
        (("runs", 0, "latency", "percentiles_ms", "p50", "value"), "fast"),
        (("runs", 0, "latency", "percentiles_ms", "p50", "colour"), "blue"),
        (("runs", 0, "settings", "threads"), 2),
        (("runs", 1, "throughput"), {"points": []}),
        (("work", "flops"), -1),
        (("work", "by_op", 0, "flops"), 1.5),
        (("not_measured", "torch/cuda"), None),
    ],
)
def test_schema_rejects_a_bad_efficiency_value(
    validator: jsonschema.Draft202012Validator, path: tuple[Any, ...], value: Any
) -> None:
    data = _result().to_dict()
    set_path(data["efficiency"], path, value)
    assert not validator.is_valid(data)


def test_schema_rejects_a_missing_efficiency_field(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = _result().to_dict()
    del data["efficiency"]["runs"][0]["host_device_copy_ms"]
    assert not validator.is_valid(data)
