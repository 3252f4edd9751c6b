"""Keeping the stage inside its budget: a plan made of work, and a deadline as the safety
net.

The plan is a function of the model, its inputs, the seed and the budget only, never of
how fast the machine happens to be (two audits under different load explain the same
samples with the same steps and the same depths):

    samples        without --samples, as many as let the integrated-gradients family
                   attribute them within SAMPLE_SHARE of the budget's work (its seconds at
                   the nominal FLOPS_PER_SECOND), at least MIN_SAMPLES, from the FLOPs of one
                   forward of one sample counted by torch (``forward_flops``): a deterministic
                   count, not a timing
    MPRT depth     the budget's, sensitivity draws the budget's (plan.py records them)

The deadline (``Clock``) only stops what overruns: every forward the stage hands out checks
it (``guarded``) and raises ``DeadlineReached``, even deep inside a Captum call, so what
finished is kept and the rest is marked ``incomplete`` with that reason (never a different
verdict).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "FLOPS_PER_SECOND",
    "MIN_SAMPLES",
    "SAMPLE_SHARE",
    "Clock",
    "DeadlineReached",
    "WorkMeter",
    "fitting_samples",
    "forward_flops",
    "guarded",
    "probe_seconds",
    "row_seconds",
    "steps_that_fit",
]

SAMPLE_SHARE = 0.02
MIN_SAMPLES = 2
# The nominal rate that turns a budget's seconds into work (FLOPs): a fixed constant, so
# the plan never depends on this machine's load. Calibrated on 2 CPU cores, where torch
# sustained 3.3e10 (saliency, 2 rows a pass) to 1.1e11 (occlusion, batched rows) FLOP/s on
# resnet18 at 224x224 while another job shared the cores.
FLOPS_PER_SECOND = 6e10
# The least nominal time one forward row costs, however few its FLOPs: a small model's
# rows are bound by call overhead, not arithmetic.
ROW_SECONDS_FLOOR = 2e-5


class DeadlineReached(Exception):
    """A guarded forward was called past the deadline: stop, keep what finished."""


@dataclass
class WorkMeter:
    """Rows the guarded forwards were called on: the counted work the plan reads."""

    rows: int = 0

    def count(self, args: tuple[object, ...]) -> None:
        first = args[0] if args else None
        shape = getattr(first, "shape", None)
        self.rows += int(shape[0]) if shape else 1


def row_seconds(flops: int) -> float:
    """Nominal seconds of one forward row of ``flops`` FLOPs (``flops`` 0: unknown, the
    floor)."""
    return max(flops / FLOPS_PER_SECOND, ROW_SECONDS_FLOOR)


@dataclass
class Clock:
    """The stage's deadline, ``seconds`` after it started."""

    seconds: float
    started: float = 0.0
    # A deadline of the piece of work now running (one method), or None: the stage's.
    part_until: float | None = None
    part_reason: str = ""

    def __post_init__(self) -> None:
        self.started = time.perf_counter()

    def restart(self) -> None:
        """Count the deadline from now (the stage's work starts after its setup)."""
        self.started = time.perf_counter()

    def begin_part(self, seconds: float, what: str) -> None:
        """``what`` (a method's attribution, its scorecard) may run ``seconds`` from now."""
        self.part_until = time.perf_counter() + max(0.0, seconds)
        self.part_reason = f"{what}'s {seconds:.3g} s deadline passed"

    def end_part(self) -> None:
        self.part_until = None

    def check(self) -> None:
        """Raise ``DeadlineReached`` past the stage's or the running part's deadline."""
        now = time.perf_counter()
        if now >= self.started + self.seconds:
            raise DeadlineReached(
                f"the explanations stage's {self.seconds:g} s deadline passed; the plan's "
                "work was not finished (pass --budget thorough, fewer --samples or fewer "
                "--explainers)"
            )
        if self.part_until is not None and now >= self.part_until:
            raise DeadlineReached(
                f"{self.part_reason}; the plan's work was not finished (pass --budget "
                "thorough, fewer --samples or fewer --explainers)"
            )

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


def guarded(
    forward: Callable[..., torch.Tensor], clock: Clock, meter: WorkMeter | None = None
) -> Callable[..., torch.Tensor]:
    """FORWARD, checking CLOCK before every call: the deadline reaches inside any loop that
    calls the model (Captum's, a metric's, the randomisation cascade's); METER, when given,
    counts the rows of each call. A module stays a module (DeepLift and GuidedBackprop hook
    its submodules)."""
    if isinstance(forward, torch.nn.Module):
        return _GuardedModule(forward, clock, meter)

    def checked(*args: object, **kwargs: object) -> torch.Tensor:
        _admit(clock, meter, args)
        return forward(*args, **kwargs)

    return checked


class _GuardedModule(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, clock: Clock, meter: WorkMeter | None) -> None:
        super().__init__()
        self.inner = inner
        self.clock = clock
        self.meter = meter

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        _admit(self.clock, self.meter, args)
        return self.inner(*args, **kwargs)


def _admit(clock: Clock, meter: WorkMeter | None, args: tuple[object, ...]) -> None:
    """Before a guarded call: stop past the deadline, else count the call's rows."""
    clock.check()
    if meter is not None:
        meter.count(args)


def forward_flops(forward: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one forward of ``inputs`` as torch counts them (0 when it counts none: an
    onnxruntime session, or ops it does not know). A count, not a timing."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            forward(*inputs)
    except Exception:  # a model the counter cannot follow: no estimate, the budget's counts
        return 0
    return int(counter.get_total_flops())


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
    ``SAMPLE_SHARE`` of the budget (never fewer than ``MIN_SAMPLES``); any unit of work
    will do (the stage passes FLOPs and the budget's FLOPs)."""
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
