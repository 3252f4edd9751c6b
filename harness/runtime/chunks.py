"""A large batch through the forward pass in chunks, so that its peak memory stays bounded.

The memory of one pass grows with its batch (every activation holds a row per sample): the
20,000 samples of one ``--data`` file once took 3.9 GB in a single pass. A batch of more than
``MAX_CHUNK_SAMPLES`` samples (or ``MAX_CHUNK_INPUT_BYTES`` of inputs) runs in chunks, and
each output is joined along the sample axis: the arrays a single pass would give.

Only a batch the model names as such is split: every input of rank 1 or more has a dim 0
named as the batch (``harness.core.model.is_batch_dim``), all of one size, and every output
of every chunk has one row per sample. A dim 0 named otherwise (a sequence-first RNN's time
axis) or fixed is never split, as that could change the results; a model whose outputs turn
out not to have a row per sample runs in one pass after all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.core.model import LoadedModel, is_batch_dim

__all__ = ["MAX_CHUNK_INPUT_BYTES", "MAX_CHUNK_SAMPLES", "batch_inputs", "run_in_chunks"]

MAX_CHUNK_SAMPLES = 64
MAX_CHUNK_INPUT_BYTES = 64 * 1024**2

Arrays = dict[str, np.ndarray]


def run_in_chunks(run: Callable[[Arrays], Arrays], model: LoadedModel, arrays: Arrays) -> Arrays:
    """``run(arrays)``, in chunks of the batch when it is large and the model's inputs name it
    (see the module's docstring)."""
    batched = batch_inputs(model, arrays)
    if not batched:
        return run(arrays)
    total = int(arrays[min(batched)].shape[0])
    size = _chunk_size(arrays, batched, total)
    if total <= size:
        return run(arrays)
    parts = []
    for start in range(0, total, size):
        chunk = {n: (a[start : start + size] if n in batched else a) for n, a in arrays.items()}
        outputs = run(chunk)
        rows = min(size, total - start)
        if any(out.ndim == 0 or out.shape[0] != rows for out in outputs.values()):
            # An output without a row per sample: the samples are not computed one by one.
            return run(arrays)
        parts.append(outputs)
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def batch_inputs(model: LoadedModel, arrays: Arrays) -> frozenset[str]:
    """The inputs that carry the batch on axis 0, or none when the batch cannot be split."""
    specs = {spec.name: spec for spec in model.inputs}
    ranked = [name for name, array in arrays.items() if array.ndim >= 1]
    named = all(
        name in specs and specs[name].rank >= 1 and is_batch_dim(specs[name].shape[0])
        for name in ranked
    )
    if not ranked or not named or len({arrays[n].shape[0] for n in ranked}) != 1:
        return frozenset()
    return frozenset(ranked)


def _chunk_size(arrays: Arrays, batched: frozenset[str], total: int) -> int:
    per_sample = sum(arrays[name].nbytes for name in batched) // max(total, 1)
    return max(1, min(MAX_CHUNK_SAMPLES, MAX_CHUNK_INPUT_BYTES // max(per_sample, 1)))
