"""The dataset a model's explanations cover when it asks for ``samples = "all"``: every
sample of ``--data``, or else of the test split of the task the model names.

The driver reads it once, hashes it (the shard units' ids name the hash, not a path) and
hands each shard unit its slice; a worker then audits the slice as its ``--data``, so a
shard needs no shared file system.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from harness.core.config import AuditConfig
from harness.core.errors import UsageError, shorten

__all__ = ["Dataset", "load_dataset", "shard_bounds"]


@dataclass(frozen=True, eq=False)
class Dataset:
    arrays: dict[str, np.ndarray]  # input name -> every sample (or a rider, whole)
    batched: frozenset[str]  # inputs with the sample axis first
    count: int
    content_hash: str
    source: str  # in words

    def shard(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Samples [start, stop) of every batched input; the others as they are."""
        return {
            name: (array[start:stop] if name in self.batched else array)
            for name, array in self.arrays.items()
        }


def load_dataset(config: AuditConfig) -> Dataset:
    """CONFIG's whole dataset; a model with neither --data nor a known task is refused."""
    from harness.intake.loader import load_model

    model = load_model(config)
    if config.data is not None:
        from harness.intake.data_file import read_data
        from harness.intake.sizes import InputBytes

        arrays = read_data(config.data, model.inputs, InputBytes(config.max_input_bytes))
        return _dataset(arrays, f"--data {config.data.name}")
    if model.task is not None:
        from harness.models.tasks import load_task, task_names

        if model.task in task_names():
            task = load_task(model.task)
            return _dataset(dict(task.test), f"the test split of task '{model.task}'")
    raise UsageError(
        f"--samples all explains a dataset, but {shorten(config.model)} names no task and no "
        "--data was given; pass --data FILE (.npz keyed by input name)"
    )


def _dataset(arrays: dict[str, np.ndarray], source: str) -> Dataset:
    counts = {name: int(a.shape[0]) for name, a in arrays.items() if a.ndim >= 1}
    if not counts:
        raise UsageError(f"{source} holds no input with a sample axis; nothing to explain")
    count = max(counts.values())  # the sample axis; shorter first axes ride along whole
    batched = frozenset(name for name, n in counts.items() if n == count)
    return Dataset(arrays, batched, count, _content_hash(arrays), source)


def _content_hash(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def shard_bounds(count: int, shard_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each shard: ``shard_size`` samples, the last one what is left."""
    return [(start, min(start + shard_size, count)) for start in range(0, count, shard_size)]
