"""Edits of a result.json dict that give the gate a known answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Edit = Callable[[dict[str, Any]], None]


def first_latency(data: dict[str, Any]) -> dict[str, Any]:
    latency: dict[str, Any] = data["efficiency"]["runs"][0]["latency"]
    return latency


def scale_latency(factor: float) -> Edit:
    """Every call of the first run took FACTOR times as long."""

    def edit(data: dict[str, Any]) -> None:
        latency = first_latency(data)
        latency["samples_ms"] = [s * factor for s in latency["samples_ms"]]
        for key in ("min_ms", "mean_ms", "max_ms", "std_ms"):
            latency[key] *= factor
        for estimate in latency["percentiles_ms"].values():
            for key in ("value", "ci_low", "ci_high"):
                if estimate[key] is not None:
                    estimate[key] *= factor

    return edit


def plant_latency(median_ms: float = 0.1, n: int = 1200, spread: float = 0.1) -> Edit:
    """The first run's calls replaced by N seeded lognormal draws around MEDIAN_MS (sigma
    SPREAD), every statistic recomputed from them: a run as a quiet machine times it. The
    audit's own samples depend on how busy the machine was (a loaded one drifts and grows
    tails), and a gate verdict on an edited copy of them would too."""

    def edit(data: dict[str, Any]) -> None:
        from harness.core.serialize import to_jsonable
        from harness.stages.efficiency.stats import latency_stats

        latency = first_latency(data)
        samples = median_ms * np.random.default_rng(0).lognormal(0.0, spread, n)
        planted = latency_stats(
            samples,
            batch_size=latency["batch_size"],
            warmup_calls=latency["warmup_calls"],
            warmup_settled=True,
            sampling_seconds=float(samples.sum()) / 1e3,
            stopped_because="ci within target",
            target_ci_rel_width=latency["target_ci_rel_width"],
        )
        data["efficiency"]["runs"][0]["latency"] = to_jsonable(planted)

    return edit


def resample_latency(seed: int) -> Edit:
    """Another draw of the same calls (a bootstrap resample): a second audit, minus the wait."""

    def edit(data: dict[str, Any]) -> None:
        latency = first_latency(data)
        rng = np.random.default_rng(seed)
        samples = rng.choice(np.asarray(latency["samples_ms"]), size=latency["n"], replace=True)
        latency["samples_ms"] = samples.tolist()
        for name, estimate in latency["percentiles_ms"].items():
            if estimate["value"] is not None:
                estimate["value"] = float(np.quantile(samples, int(name[1:]) / 100))

    return edit


def truncate_latency(n: int) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        latency = first_latency(data)
        latency["samples_ms"] = latency["samples_ms"][:n]
        latency["n"] = n

    return edit


def set_environment(**facts: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["environment"].update(facts)

    return edit
