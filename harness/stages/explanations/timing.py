"""Keeping the stage inside its budget's time: a deadline, a probe pass, and the step
counts that fit.

A small model meets none of these limits: the budget's counts apply as they are. A large one
on a CPU (a ResNet at 224 x 224) would take hours at the same counts, so:

    samples        without --samples, as many as let the integrated-gradients family
                   attribute them in SAMPLE_SHARE of the budget's seconds (at least
                   MIN_SAMPLES), from a timed forward+backward pass over as many copies of
                   the first sample as one of its passes holds (after one warm-up pass)
    MPRT depth     the layers whose re-attribution fits half the method's share of the time
                   left (each step costs one attribution)
    max-sens.      the perturbations that fit a quarter of it
    deadline       a method, or a metric, that would start after the deadline is skipped
                   with that reason

Every reduction is recorded where it applies (the section's notes, the metric's
parameters).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "MIN_SAMPLES",
    "SAMPLE_SHARE",
    "Clock",
    "fitting_samples",
    "probe_seconds",
]

SAMPLE_SHARE = 0.02
MIN_SAMPLES = 2


@dataclass
class Clock:
    """The stage's deadline, ``seconds`` after it started."""

    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.perf_counter()

    def left(self) -> float:
        return self.started + self.seconds - time.perf_counter()

    def spent(self) -> bool:
        return self.left() <= 0

    def share(self, parts: int) -> float:
        """The time left divided among ``parts`` remaining pieces of work."""
        return max(0.0, self.left()) / max(1, parts)

    def spent_reason(self) -> str:
        return (
            f"the explanations stage's {self.seconds:g} s time budget was spent before this "
            "could start; pass --budget thorough, fewer --samples or fewer --explainers"
        )


def probe_seconds(
    forward: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], rows: int
) -> float:
    """Seconds of one forward+backward pass over ``rows`` copies of ``inputs`` (one
    sample): the best of two after a warm-up pass. A forward whose output carries no
    gradient (token ids into a frozen twin) counts 3x."""
    copies = tuple(t[:1].expand(rows, *t.shape[1:]).contiguous() for t in inputs)
    best = math.inf
    for attempt in range(3):
        x = copies[0].detach().clone()
        if x.is_floating_point():
            x.requires_grad_(True)
        start = time.perf_counter()
        with torch.enable_grad():
            output = forward(x, *copies[1:])
            backward = output.requires_grad
            if backward:
                output.float().sum().backward()
        elapsed = time.perf_counter() - start
        if attempt:  # the first pass warms up
            best = min(best, elapsed if backward else 3 * elapsed)
    return best


def fitting_samples(wanted: int, seconds_per_sample: float, budget_seconds: float) -> int:
    """How many of ``wanted`` samples one integrated-gradients attribution can take within
    ``SAMPLE_SHARE`` of the budget (never fewer than ``MIN_SAMPLES``)."""
    if seconds_per_sample <= 0:
        return wanted
    fit = int(SAMPLE_SHARE * budget_seconds / seconds_per_sample)
    return max(min(MIN_SAMPLES, wanted), min(wanted, fit))


def steps_that_fit(wanted: int | None, seconds_each: float, allowance: float) -> int | None:
    """How many steps of ``seconds_each`` fit ``allowance`` (None = ``wanted`` unbounded)."""
    fit = int(allowance / seconds_each) if seconds_each > 0 else None
    if fit is None:
        return wanted
    return fit if wanted is None else min(wanted, fit)
