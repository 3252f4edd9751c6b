"""The reference tasks: fixed, seeded data sets, some with known ground-truth relevance.

Each task module exposes ``load() -> TaskData``. Inputs are keyed by the input names the
reference models use (``pixels``; ``input_ids`` and ``attention_mask``), so a task's test
split can be fed to a model, or to its ONNX export, as it is.

    task             inputs                          labels          ground truth
    digits           pixels (N,1,28,28) in [0,1]     10 classes      none (real data)
    planted_patch    pixels (N,1,28,28)              classes         the planted patch pixels
    trigger_tokens   input_ids, attention_mask       classes         the trigger token positions
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

import numpy as np

from harness.core.errors import UsageError

__all__ = ["TaskData", "load_task", "task_names"]


@dataclass(frozen=True, eq=False)
class TaskData:
    """A fixed train/test split of one task."""

    name: str
    train: dict[str, np.ndarray]  # input name -> (N, ...) array
    y_train: np.ndarray  # (N,) int64 class labels
    test: dict[str, np.ndarray]
    y_test: np.ndarray
    # Ground-truth relevance of each test sample, bool, shaped like test[primary_input]
    # (True where the answer is decided); None for real data with no known truth.
    test_masks: np.ndarray | None
    primary_input: str  # the input that masks and attributions refer to
    n_classes: int

    def test_batch(self, size: int, start: int = 0) -> dict[str, np.ndarray]:
        """Test samples ``start`` .. ``start+size-1``, as model inputs."""
        return {name: x[start : start + size] for name, x in self.test.items()}


_TASKS = {
    "digits": "harness.models.tasks.digits",
    "planted_patch": "harness.models.tasks.planted_patch",
    "trigger_tokens": "harness.models.tasks.trigger_tokens",
}


def task_names() -> tuple[str, ...]:
    return tuple(sorted(_TASKS))


@functools.cache
def load_task(name: str) -> TaskData:
    """The task's data; generated (or read from scikit-learn) once per process."""
    if name not in _TASKS:
        raise UsageError(f"unknown task {name!r}; known: {', '.join(task_names())}")
    data: TaskData = importlib.import_module(_TASKS[name]).load()
    return data
