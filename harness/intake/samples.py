"""The one provider of samples: the audit's batch, and the further samples a stage asks for.

    task_samples   a reference task's first test samples, for a model that names its task:
                   input resolution feeds them (with their labels and ground-truth masks)
                   instead of random numbers the model was never trained on
    stage_samples  N samples for a stage (explanations, attention): the audit's own when it
                   has enough, else the task's test split, else further synthetic draws;
                   --data is never mixed with synthetic samples

A zoo model's ONNX file names its task in ``metadata_props`` (``harness.task``), and a
``ref:`` model carries it in the registry. A metadata task the harness does not know, or
whose inputs do not match the model's, falls back to synthetic inputs with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.core.errors import InputResolutionError, UsageError
from harness.core.model import LoadedModel
from harness.core.read_limits import human_size

if TYPE_CHECKING:
    from harness.intake.inputs import ResolvedInputs

__all__ = ["Samples", "TaskSamples", "stage_samples", "task_samples"]


@dataclass(frozen=True, eq=False)
class TaskSamples:
    task: str
    arrays: dict[str, np.ndarray]  # input name -> the first ``batch`` test samples
    labels: np.ndarray
    truth_masks: np.ndarray | None  # ground-truth relevance, shaped like the primary input
    primary_input: str
    description: str  # how the values were chosen, in words


@dataclass(frozen=True, eq=False)
class Samples:
    """The samples a stage works on."""

    arrays: dict[str, np.ndarray]  # every input; those with the sample axis hold ``count``
    batched: frozenset[str]  # inputs with the sample axis first
    count: int
    labels: np.ndarray | None  # the task's labels, when the samples are task samples
    truth: np.ndarray | None  # ground-truth relevance shaped like the task's primary input
    source: str  # where the samples came from, in words
    notes: tuple[str, ...] = ()

    def first(self, count: int, why: str) -> Samples:
        """The first ``count`` samples, ``why`` added to the notes."""
        if count >= self.count:
            return self
        arrays = {n: (a[:count] if n in self.batched else a) for n, a in self.arrays.items()}
        return Samples(
            arrays=arrays,
            batched=self.batched,
            count=count,
            labels=None if self.labels is None else self.labels[:count],
            truth=None if self.truth is None else self.truth[:count],
            source=f"the first {count} of {self.source}",
            notes=(*self.notes, why),
        )


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


def stage_samples(
    model: LoadedModel,
    inputs: ResolvedInputs,
    seed: int,
    count: int,
    *,
    batched: frozenset[str],
) -> Samples:
    """``count`` samples of the inputs in ``batched`` (those with the sample axis first; the
    others ride along as the audit fed them): the audit's own when it has enough, else the
    task's test split (all of it, with a note, when it holds fewer), else the audit's
    synthetic batch extended with draws from seeds ``seed+1``, ``seed+2``, ... (no more
    samples than fit the input limit, with a note); inputs from --data are never mixed with
    synthetic ones (the samples in --data, with a note)."""
    arrays = inputs.arrays
    # Every batched input holds the same number of samples; any one of them tells it.
    batch = int(arrays[min(batched)].shape[0])
    if batch < 1:  # intake refuses empty inputs; extending an empty batch could never finish
        raise InputResolutionError(
            f"input '{min(batched)}' holds no samples; pass at least one (--shape or --data)"
        )
    task = inputs.task
    if task is not None and batch < count:
        return _test_split(task.task, arrays, batched, count)
    if batch >= count:
        cut = {n: (a[:count] if n in batched else a) for n, a in arrays.items()}
        labels = task.labels[:count] if task is not None else None
        truth = (
            task.truth_masks[:count] if task is not None and task.truth_masks is not None else None
        )
        source = f"the audit's first {count} samples" if batch > count else "the audit's samples"
        return Samples(cut, batched, count, labels, truth, source)
    sources = {t.name: t.source for t in inputs.tensors}
    if any(sources.get(n) == "data" for n in batched):
        note = (
            f"--data holds {batch} sample(s) and {count} were asked for; {batch} explained "
            "(pass more samples in --data to explain more)"
        )
        return Samples(dict(arrays), batched, batch, None, None, "--data", (note,))
    fitting, notes = _fitting_count(inputs, batched, batch, count)
    extended = _synthetic_draws(model, inputs, seed, batched, fitting)
    return Samples(extended, batched, fitting, None, None, _synthetic_text(seed, fitting), notes)


def _fitting_count(
    inputs: ResolvedInputs, batched: frozenset[str], batch: int, count: int
) -> tuple[int, tuple[str, ...]]:
    """``count``, or fewer samples (never fewer than the audit's batch) when ``count``
    samples of the batched inputs would pass the input limit (--max-input-bytes)."""
    per_sample = sum(inputs.arrays[n].nbytes for n in batched) // batch
    others = sum(a.nbytes for n, a in inputs.arrays.items() if n not in batched)
    room = max(inputs.max_bytes - others, 0) // max(per_sample, 1)
    if room >= count:
        return count, ()
    fitting = max(room, batch)
    note = (
        f"{count} samples were asked for and {fitting} used: {count} would take "
        f"{human_size(per_sample * count + others)}, over the {human_size(inputs.max_bytes)} "
        "input limit (--max-input-bytes)"
    )
    return fitting, (note,)


def _test_split(
    task: str, arrays: dict[str, np.ndarray], batched: frozenset[str], count: int
) -> Samples:
    from harness.models.tasks import load_task

    data = load_task(task)
    available = len(data.y_test)
    notes: tuple[str, ...] = ()
    if count > available:
        notes = (f"task '{task}' has {available} test samples; {available} explained",)
        count = available
    test = data.test_batch(count)
    fed = {n: test.get(n, a) for n, a in arrays.items()}
    truth = data.test_masks[:count] if data.test_masks is not None else None
    source = f"test samples 0-{count - 1} of task '{task}'"
    return Samples(fed, batched, count, data.y_test[:count], truth, source, notes)


def _synthetic_draws(
    model: LoadedModel,
    inputs: ResolvedInputs,
    seed: int,
    batched: frozenset[str],
    count: int,
) -> dict[str, np.ndarray]:
    """The audit's synthetic batch, then draws with seeds seed+1, seed+2, ... (constants
    from --value repeated) until ``count`` samples."""
    # Imported here: inputs.py imports this module for the audit's task samples.
    from harness.intake.inputs import synthetic_array

    arrays = inputs.arrays
    sources = {t.name: t.source for t in inputs.tensors}
    chunks: dict[str, list[np.ndarray]] = {n: [arrays[n]] for n in batched}
    batch = int(arrays[min(batched)].shape[0])  # at least 1: stage_samples checks it
    # A counted loop, not "until enough": each draw adds ``batch`` samples.
    draws = -(-(count - batch) // batch)
    for offset in range(1, draws + 1):
        for name in batched:
            first = arrays[name]
            if sources.get(name) == "synthetic":
                drawn, _, _ = synthetic_array(model.input(name), first.shape, seed + offset)
                chunks[name].append(drawn)
            else:
                chunks[name].append(first)
    out = dict(arrays)
    for name, parts in chunks.items():
        out[name] = np.concatenate(parts)[:count]
    return out


def _synthetic_text(seed: int, count: int) -> str:
    return f"{count} synthetic samples (the audit's inputs, then seeds {seed + 1}, {seed + 2}, ...)"
