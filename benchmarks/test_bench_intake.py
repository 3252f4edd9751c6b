"""The audit's fixed overhead before any stage: load, summarise, resolve inputs, one forward.

On the bundled CNN; later stages are measured by their own suites.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.config import AuditConfig
from harness.intake.inputs import resolve_inputs
from harness.intake.loader import load_model, summarize_model
from harness.runtime.forward import run_forward

BUNDLED_CNN = Path(__file__).resolve().parents[1] / "models" / "zoo" / "cnn_digits.onnx"


@pytest.mark.benchmark(group="intake")
def test_bench_load_and_summarize(benchmark):
    config = AuditConfig(model=str(BUNDLED_CNN))
    benchmark(lambda: summarize_model(load_model(config)))


@pytest.mark.benchmark(group="intake")
def test_bench_resolve_and_forward(benchmark):
    config = AuditConfig(model=str(BUNDLED_CNN))
    model = load_model(config)

    def resolve_and_run():
        inputs = resolve_inputs(model, config)
        return run_forward(model, inputs.arrays, "cpu", None)

    outputs = benchmark(resolve_and_run)
    assert outputs["logits"].shape == (1, 10)
