"""Real inputs for models trained on a reference task: the task's test samples.

A zoo model's ONNX file names its task in ``metadata_props`` (``harness.task``), and a
``ref:`` model carries it in the registry. Its audit then feeds real test samples, which
later stages pair with the task's labels and ground-truth relevance masks, instead of
random numbers the model was never trained on. A metadata task the harness does not know,
or whose inputs do not match the model's, falls back to synthetic inputs with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.errors import UsageError
from harness.core.model import LoadedModel

__all__ = ["TaskSamples", "task_samples"]


@dataclass(frozen=True, eq=False)
class TaskSamples:
    task: str
    arrays: dict[str, np.ndarray]  # input name -> the first ``batch`` test samples
    labels: np.ndarray
    truth_masks: np.ndarray | None  # ground-truth relevance, shaped like the primary input
    primary_input: str
    description: str  # how the values were chosen, in words


def task_samples(model: LoadedModel, batch: int) -> tuple[TaskSamples | None, str | None]:
    """The task's first ``batch`` test samples for ``model``, or (None, why not)."""
    if model.task is None:
        return None, None
    from harness.models.tasks import load_task, task_names

    if model.task not in task_names():
        return None, (
            f"the model's metadata names task '{model.task}', which this harness does not "
            "know; fed synthetic inputs"
        )
    data = load_task(model.task)
    names = {spec.name for spec in model.inputs}
    if names != set(data.test):
        return None, (
            f"the model names task '{model.task}', but its inputs ({', '.join(sorted(names))}) "
            f"are not the task's ({', '.join(sorted(data.test))}); fed synthetic inputs"
        )
    if not 1 <= batch <= len(data.y_test):
        raise UsageError(
            f"batch {batch} of task '{model.task}' samples asked for; the test split holds "
            f"{len(data.y_test)}: pass a batch size between 1 and that"
        )
    masks = data.test_masks[:batch] if data.test_masks is not None else None
    samples = TaskSamples(
        task=model.task,
        arrays=data.test_batch(batch),
        labels=data.y_test[:batch],
        truth_masks=masks,
        primary_input=data.primary_input,
        description=f"test samples 0-{batch - 1} of task '{model.task}'",
    )
    return samples, None
