"""How many samples Captum evaluates at once, from a memory budget, and what to do when
that still runs out of memory.

``choose_batch`` (a rule of thumb, documented so the result can state it):

    free                  = memory_budget - 2 x model_param_bytes
                            (the weights, and as much again for their gradients)
    per gradient sample   = ACTIVATION_FACTOR x input_bytes_per_sample
                            (activations kept for the backward pass, and their gradients)
    per forward sample    = per gradient sample / FORWARD_DISCOUNT
                            (no_grad: only the live activations)
    internal_batch_size   = clamp(free // per gradient sample, 1, MAX_INTERNAL_BATCH)
    perturbations_per_eval = clamp(free // (per forward sample x samples_per_call),
                                   1, MAX_PERTURBATIONS_PER_EVAL)

``internal_batch_size`` bounds the scaled copies IntegratedGradients (and NoiseTunnel's
noisy copies) push through forward+backward at once; ``perturbations_per_eval`` is how
many perturbed copies of each of the ``samples_per_call`` samples one forward call gets.
``with_oom_halving`` retries a call with half the batch on out-of-memory, down to 1, and
returns the batch that worked, so the result records what actually ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

__all__ = [
    "ACTIVATION_FACTOR",
    "FORWARD_DISCOUNT",
    "MAX_INTERNAL_BATCH",
    "MAX_PERTURBATIONS_PER_EVAL",
    "BatchPlan",
    "OomRetry",
    "choose_batch",
    "is_out_of_memory",
    "with_oom_halving",
]

log = logging.getLogger(__name__)

ACTIVATION_FACTOR = 64
FORWARD_DISCOUNT = 4
MAX_INTERNAL_BATCH = 512
MAX_PERTURBATIONS_PER_EVAL = 256

T = TypeVar("T")


class BatchPlan(NamedTuple):
    internal_batch_size: int
    perturbations_per_eval: int


class OomRetry(NamedTuple, Generic[T]):
    value: T
    batch: int  # the batch that succeeded
    halvings: int  # how many times it was halved on out-of-memory


def choose_batch(
    model_param_bytes: int,
    input_bytes_per_sample: int,
    memory_budget_bytes: int,
    *,
    samples_per_call: int = 1,
) -> BatchPlan:
    """(internal_batch_size, perturbations_per_eval) by the formula in the module docstring."""
    for name, value in (
        ("model_param_bytes", model_param_bytes),
        ("memory_budget_bytes", memory_budget_bytes),
    ):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if input_bytes_per_sample <= 0 or samples_per_call <= 0:
        raise ValueError(
            f"input_bytes_per_sample and samples_per_call must be > 0, got "
            f"{input_bytes_per_sample} and {samples_per_call}"
        )
    free = max(0, memory_budget_bytes - 2 * model_param_bytes)
    per_gradient_sample = ACTIVATION_FACTOR * input_bytes_per_sample
    per_forward_call = per_gradient_sample // FORWARD_DISCOUNT * samples_per_call
    return BatchPlan(
        internal_batch_size=_clamp(free // per_gradient_sample, MAX_INTERNAL_BATCH),
        perturbations_per_eval=_clamp(free // max(1, per_forward_call), MAX_PERTURBATIONS_PER_EVAL),
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError, or a RuntimeError whose message says so (older torch, ORT)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "failed to allocate memory" in text
    )


def with_oom_halving(fn: Callable[[int], T], batch: int) -> OomRetry[T]:
    """``fn(batch)``, retried with ``batch // 2`` on out-of-memory until it fits or is 1."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    halvings = 0
    while True:
        try:
            return OomRetry(fn(batch), batch, halvings)
        except RuntimeError as exc:
            if not is_out_of_memory(exc) or batch == 1:
                raise
            log.info("out of memory at batch %d; retrying with %d", batch, batch // 2)
            _release_cached_memory()
            batch //= 2
            halvings += 1


def _clamp(value: int, upper: int) -> int:
    return int(min(max(value, 1), upper))


def _release_cached_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
