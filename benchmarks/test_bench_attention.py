"""Attention capture's cost, on the zoo Transformer (ONNX).

Overhead: the median latency of the copy with every attention Softmax output promoted to a
graph output (what capture runs), against the original model, on the same inputs and
settings, rounds interleaved in one run so machine drift cancels. The Q/K^T copy that
verification runs once is reported beside it. The gate: capture may cost at most
``MAX_CAPTURE_RATIO`` times the original.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import onnx
import pytest

from harness.core.sessions import SessionSettings, create_session
from harness.explainers.attention.capture_onnx import capture_model, find_softmax_sites
from harness.models import get_reference
from harness.models.tasks import load_task

ZOO = get_reference("transformer")
MAX_CAPTURE_RATIO = 1.5
ROUNDS = 9
CALLS_PER_ROUND = 200


def _median_ms(session: Any, feeds: dict[str, np.ndarray], calls: int) -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        session.run(None, feeds)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(samples)


@pytest.mark.parametrize("batch", [1, 16])
def test_capture_overhead_against_the_original(batch: int) -> None:
    model = onnx.load(str(ZOO.onnx_path))
    sites = find_softmax_sites(model)
    one_thread = SessionSettings(intra_op_threads=1)
    sessions = {
        "original": create_session(model, one_thread),
        "capture": create_session(capture_model(model, sites), one_thread),
        "capture+qk": create_session(capture_model(model, sites, with_qk=True), one_thread),
    }
    feeds = load_task("trigger_tokens").test_batch(batch)
    for session in sessions.values():
        for _ in range(50):
            session.run(None, feeds)
    medians: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(ROUNDS):  # interleaved
        for name, session in sessions.items():
            medians[name].append(_median_ms(session, feeds, CALLS_PER_ROUND))
    p50 = {name: statistics.median(values) for name, values in medians.items()}
    ratio = p50["capture"] / p50["original"]
    print(
        f"batch {batch}: original p50 {p50['original'] * 1e3:.1f} us, capture "
        f"{p50['capture'] * 1e3:.1f} us (ratio {ratio:.3f}), capture with Q/K^T "
        f"{p50['capture+qk'] * 1e3:.1f} us (ratio {p50['capture+qk'] / p50['original']:.3f})"
    )
    assert ratio <= MAX_CAPTURE_RATIO


@pytest.mark.parametrize("budget", ["quick", "standard"])
def test_bench_attention_stage_cost(benchmark: Any, budget: str) -> None:
    from harness.core.config import AuditConfig
    from harness.intake.inputs import resolve_inputs
    from harness.intake.loader import load_model, summarize_model
    from harness.stages.attention.stage import attention_stage
    from harness.stages.context import AuditContext

    config = AuditConfig(model=str(ZOO.onnx_path), budget=budget, threads=1)
    model = load_model(config)
    context = AuditContext(
        config, model, summarize_model(model), resolve_inputs(model, config), "cpu"
    )
    section = benchmark.pedantic(attention_stage, args=(context,), rounds=1, iterations=1)
    assert section.status == "ok"
