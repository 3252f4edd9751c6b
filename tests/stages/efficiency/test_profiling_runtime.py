"""The timing loops, the memory watch and the backends, on calls whose cost is known."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pytest

from harness.stages.efficiency import BUDGETS, memory
from harness.stages.efficiency.ort_backend import OrtSession, matmul_peak_gflops, op_profile
from harness.stages.efficiency.sampling import sample_latency, time_calls, warm_up
from harness.testing import onnx_builders

QUICK = BUDGETS["quick"]


def sleeper(seconds: float):
    return lambda: time.sleep(seconds)


def test_every_sample_covers_the_call():
    samples = time_calls(sleeper(0.002), 5)
    assert len(samples) == 5
    assert all(s >= 2.0 for s in samples)  # sleep() never returns early


def test_a_call_reporting_its_own_time_is_taken_at_its_word():
    # CUDA calls return their CUDA-event time; the loop must record that, not wall time.
    assert time_calls(lambda: 7.5, 3) == [7.5, 7.5, 7.5]


def reporting(milliseconds: float, sleep_s: float = 0.0):
    """A call that reports its own time, as a CUDA-event call does: the samples are
    MILLISECONDS however busy the machine is (SLEEP_S only makes wall time pass)."""

    def call() -> float:
        time.sleep(sleep_s)
        return milliseconds

    return call


# Limits no loaded machine reaches in these tests, so that only the rule under test stops them.
UNREACHED = {"max_seconds": 600.0, "warmup_max_seconds": 600.0}


def test_sampling_meets_the_floors_before_stopping_on_ci():
    budget = dataclasses.replace(
        QUICK, min_calls=40, min_seconds=0.05, target_ci_rel_width=1.0, **UNREACHED
    )
    result = sample_latency(reporting(1.0, sleep_s=0.001), budget)
    assert result.stopped_because == "ci within target"
    assert len(result.samples_ms) >= 40
    assert result.sampling_seconds >= 0.05


def test_sampling_stops_at_the_time_limit_for_a_slow_call():
    budget = dataclasses.replace(QUICK, min_calls=1000, max_seconds=0.15, warmup_max_calls=2)
    result = sample_latency(sleeper(0.03), budget)
    assert result.stopped_because == "time limit"
    assert 1 <= len(result.samples_ms) < 1000


def test_sampling_stops_at_the_call_limit():
    budget = dataclasses.replace(
        QUICK, min_calls=10, max_calls=30, target_ci_rel_width=0.0, **UNREACHED
    )
    result = sample_latency(lambda: None, budget)
    assert result.stopped_because == "call limit"
    assert len(result.samples_ms) == 30


def test_warm_up_settles_on_a_steady_call_and_gives_up_on_a_bound():
    # Reported times, not sleeps: a sleep's jitter on a loaded machine can keep the median
    # from settling, which is the machine's doing, not the rule's.
    calls, settled = warm_up(reporting(1.0), dataclasses.replace(QUICK, **UNREACHED))
    assert settled and calls >= 20  # two windows of 10
    drifting = iter(range(1, 10_000))
    budget = dataclasses.replace(QUICK, warmup_max_calls=30, **UNREACHED)
    calls, settled = warm_up(lambda: next(drifting) * 0.1, budget)
    assert not settled and calls == 30


def test_peak_memory_sees_a_known_allocation():
    size = 200 << 20
    before = memory.current_rss_bytes()
    with memory.watch_peak() as peak:
        block = np.ones(size, dtype=np.uint8)  # touched pages: resident
        del block
    assert peak.peak_bytes >= before + size * 0.95


def test_peak_memory_by_polling_sees_a_held_allocation(monkeypatch):
    monkeypatch.setattr(memory, "method", lambda: "psutil-poll")
    size = 100 << 20
    before = memory.current_rss_bytes()
    polls = counting_polls(monkeypatch)
    with memory.watch_peak() as peak:
        block = np.ones(size, dtype=np.uint8)
        # The poller samples every millisecond when it gets a core: on a loaded machine
        # that can take longer than any fixed sleep, so hold the block until it has. The
        # poll under way when the block appeared may have read RSS before it: wait for 2.
        polls_then = polls()
        wait_for(lambda: polls() >= polls_then + 2)
        del block
    assert peak.peak_bytes >= before + size * 0.9


def counting_polls(monkeypatch) -> Callable[[], int]:
    """Counts the poller's RSS reads from here on; returns the count so far."""
    count = [0]
    read = memory.current_rss_bytes

    def counted() -> int:
        rss = read()
        count[0] += 1
        return rss

    monkeypatch.setattr(memory, "current_rss_bytes", counted)
    return lambda: count[0]


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the memory poller never ran"
        time.sleep(0.001)


@pytest.fixture(scope="module")
def tiny_cnn(tmp_path_factory):
    return onnx_builders.tiny_cnn(tmp_path_factory.mktemp("cnn"))


def test_ort_session_records_its_settings_and_times(tiny_cnn):
    session = OrtSession(tiny_cnn, "cpu", threads=1)
    assert session.load_ms >= 0 and session.session_ms > 0
    settings = session.settings()
    assert settings["intra_op_threads"] == "1"
    assert settings["graph_optimization_level"] == "ORT_ENABLE_ALL"
    feeds = {"pixels": np.zeros((1, 1, 28, 28), np.float32)}
    (logits,) = session.caller(feeds)()
    assert logits.shape == (1, 10)


def test_ort_op_profile_names_the_ops_of_the_graph(tiny_cnn):
    feeds = {"pixels": np.zeros((2, 1, 28, 28), np.float32)}
    profile = op_profile(tiny_cnn, "cpu", 1, feeds, runs=3)
    ops = {o.op_type for o in profile.by_op}
    assert "Conv" in ops
    assert sum(o.share for o in profile.by_op) == pytest.approx(1.0)
    assert profile.runs == 3 and profile.slowest_nodes
    assert profile.slowest_nodes[0].mean_us >= profile.slowest_nodes[-1].mean_us


def test_matmul_peak_is_a_positive_rate():
    assert matmul_peak_gflops(64, "cpu", 1, seconds=0.05) > 0
