"""A/B mode: time two ONNX models in one process, interleaved, for the gate to compare.

Two audits run minutes apart see different machines: another job starts, the CPU clocks
down, the page cache cools. Here both models are loaded with the same settings and fed the
same inputs, warmed up, then timed in rounds: each round runs a short block of calls on
each model, in an order drawn at random per round (as ClickHouse's performance tests and
``asv continuous`` do), so slow drift of the machine lands on both models alike. Each model
is loaded into a few sessions, used in turn round by round: two sessions of one model can
differ by 1-3% in median (where their buffers land in memory), and averaging over several
keeps that from reading as a change.

    load both (the audit's intake) -> same feeds, checked against both -> S sessions each,
    warmed up -> R rounds x (block on A, block on B, shuffled) -> latency metrics per model

The metrics are built as ``headline_metrics`` builds an audit's, so ``decide`` judges them
the same way: raw per-call samples, Mann-Whitney on the median, permutations on the tails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.config import AuditConfig
from harness.core.errors import UsageError
from harness.core.headline import LATENCY_QUANTILES, Metric, latency_metrics
from harness.core.model import LoadedModel, TensorSpec
from harness.stages.efficiency.budget import BUDGETS, EfficiencyBudget

__all__ = ["ABMeasurement", "measure_ab", "sample_metrics"]

# progress(step, event, detail), as the audit pipeline reports it.
Progress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class ABMeasurement:
    """Latency metrics of BASE and CANDIDATE from one interleaved run, by headline name."""

    base: dict[str, Metric]
    candidate: dict[str, Metric]
    rounds: int
    calls_per_round: int  # calls per model per round
    description: str  # the protocol, in words
    settings: dict[str, str]  # the runtime settings both sessions shared


def _silent(step: str, event: str, detail: str) -> None:
    pass


def measure_ab(
    base: Path,
    candidate: Path,
    *,
    budget: str = "standard",
    threads: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: Progress | None = None,
) -> ABMeasurement:
    """Time BASE and CANDIDATE (ONNX files taking the same inputs) interleaved; raises the
    audit's one-line errors for a file it cannot load or run."""
    # How long it runs: the ab_ fields of the efficiency stage's row for this budget (an
    # unknown name is a usage error here, before anything loads).
    ab_budget = BUDGETS[budget]
    report = progress or _silent
    config = AuditConfig(model=str(base), seed=seed, threads=threads, budget=budget)  # type: ignore[arg-type]
    report("load", "start", f"loading {base} and {candidate}")
    base_model, candidate_model = _load_onnx(base), _load_onnx(candidate)
    _check_same_inputs(base_model, candidate_model)
    feeds = _feeds(base_model, candidate_model, config, device)
    calls, settings = _callers((base_model, candidate_model), feeds, ab_budget, device, threads)
    report("load", "done", "ok")
    report("warm-up", "start", "warming up both models")
    block = _block_size(calls, ab_budget)
    report("warm-up", "done", f"ok, {block} calls per block")
    report("sampling", "start", f"{ab_budget.ab_rounds} rounds of {block} calls on each model")
    samples = _interleave(calls, ab_budget.ab_rounds, block, np.random.default_rng(seed))
    report("sampling", "done", "ok")
    return ABMeasurement(
        base=sample_metrics(samples[0]),
        candidate=sample_metrics(samples[1]),
        rounds=ab_budget.ab_rounds,
        calls_per_round=block,
        description=_description(ab_budget, block, seed, settings),
        settings=settings,
    )


def sample_metrics(samples_ms: list[float]) -> dict[str, Metric]:
    """latency.p50/p90/p95/p99/mean of raw samples, as ``headline_metrics`` builds them:
    a percentile below the profiler's minimum sample count has no value, and a note."""
    from harness.stages.efficiency.stats import estimate_percentile

    data = tuple(samples_ms)
    percentiles = {name: estimate_percentile(data, name) for name in LATENCY_QUANTILES}
    return {m.name: m for m in latency_metrics(data, percentiles, float(np.mean(data)))}


def _load_onnx(path: Path) -> LoadedModel:
    from harness.intake.loader import load_model

    model = load_model(AuditConfig(model=str(path)))
    if model.format != "onnx":
        raise UsageError(f"A/B mode times ONNX files; '{path}' is not one (export it to ONNX)")
    return model


def _check_same_inputs(base: LoadedModel, candidate: LoadedModel) -> None:
    """Same names, dtypes and shapes (a symbolic dim matches any symbolic dim)."""
    if _input_key(base.inputs) != _input_key(candidate.inputs):
        raise UsageError(
            f"A/B mode feeds both models the same inputs, but {base.name} takes "
            f"{_inputs_text(base.inputs)} and {candidate.name} takes "
            f"{_inputs_text(candidate.inputs)}; both models must take the same inputs "
            "(compare two audits' result files instead)"
        )


def _input_key(
    specs: tuple[TensorSpec, ...],
) -> tuple[tuple[str, str, tuple[int | None, ...]], ...]:
    return tuple(
        (s.name, s.dtype, tuple(d if isinstance(d, int) else None for d in s.shape)) for s in specs
    )


def _inputs_text(specs: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{s.name}:{s.dtype}[{s.shape_text()}]" for s in specs) or "no inputs"


def _feeds(
    base: LoadedModel, candidate: LoadedModel, config: AuditConfig, device: str
) -> dict[str, np.ndarray]:
    """The audit's inputs for BASE (task samples for a zoo model, else synthetic), run once
    through each model so that a model that fails on them fails here, in one line."""
    from harness.intake.inputs import resolve_inputs
    from harness.runtime.forward import run_forward

    feeds = resolve_inputs(base, config).arrays
    for model in (base, candidate):
        run_forward(model, feeds, device, config.threads)  # type: ignore[arg-type]
    return feeds


def _callers(
    models: tuple[LoadedModel, ...],
    feeds: dict[str, np.ndarray],
    budget: EfficiencyBudget,
    device: str,
    threads: int | None,
) -> tuple[list[list[Callable[[], object]]], dict[str, str]]:
    """``budget.ab_sessions`` timed callers per model, each its own session set up as the
    profiler sets its own (threads, optimisation level), and those settings."""
    from harness.stages.efficiency.ort_backend import OrtSession

    sessions = []
    for model in models:
        assert model.path is not None  # load_onnx sets it
        sessions.append(
            [OrtSession(model.path, device, threads) for _ in range(budget.ab_sessions)]
        )
    settings = {
        **sessions[0][0].settings(),
        "sessions_per_model": str(budget.ab_sessions),
        "timer": "time.perf_counter_ns, one per call",
    }
    return [[session.caller(feeds) for session in each] for each in sessions], settings


def _block_size(calls: list[list[Callable[[], object]]], budget: EfficiencyBudget) -> int:
    """Warm up every session (the profiler's rule and limits: until its median settles),
    then size a block from the slower model's median."""
    from harness.stages.efficiency.sampling import time_calls, warm_up

    medians = []
    for model_calls in calls:
        for call in model_calls:
            warm_up(call, budget)
        medians.append(float(np.median(time_calls(model_calls[0], 5))))
    slower_ms = max(max(medians), 1e-6)
    fitting = int(budget.ab_block_seconds * 1e3 / slower_ms)
    return min(budget.ab_max_calls, max(budget.ab_min_calls, fitting))


def _interleave(
    calls: list[list[Callable[[], object]]], rounds: int, block: int, rng: np.random.Generator
) -> list[list[float]]:
    """Per-call milliseconds of each model, ROUNDS blocks of BLOCK calls each, the order of
    the models drawn anew every round and their sessions taken in turn."""
    from harness.stages.efficiency.sampling import time_calls

    samples: list[list[float]] = [[] for _ in calls]
    for round_index in range(rounds):
        for model in rng.permutation(len(calls)):
            sessions = calls[model]
            call = sessions[round_index % len(sessions)]
            samples[model].extend(time_calls(call, block))
    return samples


def _description(budget: EfficiencyBudget, block: int, seed: int, settings: dict[str, str]) -> str:
    threads = settings["intra_op_threads"]
    if threads.startswith("default"):
        thread_text = "threads: all cores"
    else:
        thread_text = f"{threads} thread" + ("" if threads == "1" else "s")
    return (
        f"2 x {budget.ab_rounds} rounds of {block} calls, order shuffled per round, seed {seed}, "
        f"{budget.ab_sessions} sessions per model in turn, {thread_text}"
    )
