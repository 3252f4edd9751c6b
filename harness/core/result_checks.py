"""What a result must agree with itself on, beyond what the JSON Schema can say.

The schema bounds each value alone; these checks compare values with each other: a count
with the array it counts, a shape with the values it shapes. A result the harness wrote
always passes; an edited or corrupt one that does not would otherwise reach the gate's
statistics or the report's figures as numbers that cannot be (a latency ``n`` of 950 over
3 samples, an attribution that cannot be reshaped). Each failure is a ``SchemaViolation``
naming the JSON path of the value that disagrees.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.core.efficiency import EfficiencySection, Estimate
from harness.core.explanations import ExplanationsSection, MethodResult
from harness.core.schema.validate import SchemaViolation, json_path

if TYPE_CHECKING:
    from harness.core.result import AuditResult

__all__ = ["check_consistency"]


def check_consistency(result: AuditResult) -> None:
    """Raise ``SchemaViolation`` at the first value of RESULT that contradicts another."""
    _check_efficiency(result.efficiency, "$.efficiency")
    _check_explanations(result.explanations, "$.explanations")


def _check_efficiency(section: EfficiencySection, path: str) -> None:
    for index, run in enumerate(section.runs):
        run_path = json_path(json_path(path, "runs"), index)
        latency, latency_path = run.latency, json_path(run_path, "latency")
        if latency.n != len(latency.samples_ms):
            raise SchemaViolation(
                json_path(latency_path, "n"),
                f"is {latency.n}, but samples_ms holds {len(latency.samples_ms)} samples",
            )
        for name, estimate in latency.percentiles_ms.items():
            _check_estimate(estimate, json_path(json_path(latency_path, "percentiles_ms"), name))
        points = run.throughput.points if run.throughput is not None else ()
        for number, point in enumerate(points):
            point_path = json_path(json_path(json_path(run_path, "throughput"), "points"), number)
            _check_estimate(point.samples_per_s, json_path(point_path, "samples_per_s"))


def _check_estimate(estimate: Estimate, path: str) -> None:
    """An insufficient estimate has no value; a sufficient one has a value and an
    interval whose ends are in order."""
    if estimate.insufficient != (estimate.value is None):
        state = "insufficient" if estimate.insufficient else "not insufficient"
        held = "a value" if estimate.value is not None else "no value"
        raise SchemaViolation(json_path(path, "value"), f"is {state} but holds {held}")
    low, high = estimate.ci_low, estimate.ci_high
    if low is not None and high is not None and low > high:
        raise SchemaViolation(json_path(path, "ci_low"), f"({low}) is above ci_high ({high})")


def _check_explanations(section: ExplanationsSection, path: str) -> None:
    for index, method in _methods(section):
        method_path = (
            json_path(path, "random_baseline")
            if index is None
            else json_path(json_path(path, "methods"), index)
        )
        for number, attribution in enumerate(method.attributions):
            where = json_path(json_path(method_path, "attributions"), number)
            _check_shaped(attribution.shape, len(attribution.values), where, "values")
    for number, sample in enumerate(section.inputs):
        where = json_path(json_path(path, "inputs"), number)
        _check_shaped(sample.shape, len(sample.values), where, "values")
        if sample.truth:
            _check_shaped(sample.shape, len(sample.truth), where, "truth")


def _methods(section: ExplanationsSection) -> Iterator[tuple[int | None, MethodResult]]:
    yield from enumerate(section.methods)
    if section.random_baseline is not None:
        yield None, section.random_baseline


def _check_shaped(shape: tuple[int, ...], count: int, path: str, field: str) -> None:
    """FIELD (COUNT numbers) must fill SHAPE exactly: the report reshapes it."""
    if math.prod(shape) != count:
        dims = "x".join(str(d) for d in shape) or "scalar"
        raise SchemaViolation(
            json_path(path, field),
            f"holds {count} numbers, but shape {dims} needs {math.prod(shape)}",
        )
