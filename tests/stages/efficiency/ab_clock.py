"""A/B timing on a planted clock: both models still load and run every call, but each call
reports a time drawn from a known distribution, so a verdict never hangs on how busy the
machine was while it ran."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

# Call-to-call variation of the planted times (lognormal sigma): about a quiet machine's.
SPREAD = 0.05


def plant_ab_times(
    monkeypatch: pytest.MonkeyPatch, base_ms: float, candidate_ms: float, *, seed: int = 0
) -> None:
    """From here on ``measure_ab`` times BASE's calls at about BASE_MS and CANDIDATE's at
    about CANDIDATE_MS (seeded draws). A call that returns a float is taken at its word by
    the timing loop (as a CUDA-event time is), which is the seam used here."""
    from harness.stages.efficiency import ab

    real_callers = ab._callers
    rng = np.random.default_rng(seed)

    def planted_callers(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls, settings = real_callers(*args, **kwargs)
        costs = (base_ms, candidate_ms)
        planted = [
            [_reporting(call, cost, rng) for call in sessions]
            for sessions, cost in zip(calls, costs, strict=True)
        ]
        return planted, settings

    monkeypatch.setattr(ab, "_callers", planted_callers)


def _reporting(
    call: Callable[[], object], cost_ms: float, rng: np.random.Generator
) -> Callable[[], float]:
    def timed() -> float:
        call()  # the session still runs: a model that fails still fails
        return float(cost_ms * rng.lognormal(0.0, SPREAD))

    return timed
