"""What the explanations stage explains: the budget, the attributed input, the samples, and
which methods run (with the reason for every one that cannot).

    budget     how much each step may do: samples, IG steps, MPRT depth, metric draws
    subject    the attributed input and its modality; the other inputs ride along
    samples    the first N of the audit's batch, or N task test samples, or N synthetic
               samples drawn with further seeds
    methods    --explainers, or the budget's default set for the modality
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.model import TensorSpec
from harness.explainers.methods.base import Explainer, Modality
from harness.explainers.methods.registry import default_methods, get_method
from harness.intake.inputs import synthetic_array
from harness.stages.context import AuditContext

__all__ = [
    "EXPLAIN_BUDGETS",
    "ExplainBudget",
    "PlannedMethod",
    "Samples",
    "Subject",
    "choose_subject",
    "gather_samples",
    "plan_methods",
]


@dataclass(frozen=True)
class ExplainBudget:
    samples: int  # samples explained (--samples overrides)
    n_steps: int  # path steps of the integrated-gradients family
    mprt_layers: int | None  # cascade depth of the randomisation test; None = every layer
    infidelity_perturbations: int
    sensitivity_perturbations: int
    sensitivity_samples: int  # max-sensitivity re-runs the method: on the first few samples
    faithfulness_subsets: int
    curve_steps: int  # deletion / insertion points
    shown: int  # samples whose attributions the result keeps for the report
    memory_budget_bytes: int  # what batching may use
    seconds: float  # the stage's deadline (timing.py says how it is kept)


EXPLAIN_BUDGETS: dict[str, ExplainBudget] = {
    "quick": ExplainBudget(4, 16, 3, 8, 3, 2, 20, 10, 4, 512 << 20, 60.0),
    "standard": ExplainBudget(8, 32, 6, 16, 5, 4, 40, 20, 4, 1 << 30, 240.0),
    "thorough": ExplainBudget(16, 50, None, 32, 10, 8, 50, 32, 4, 2 << 30, 1200.0),
}


@dataclass(frozen=True)
class Subject:
    """The input attributions refer to, how it is read, and the inputs around it."""

    attributed: str
    modality: Modality
    others: tuple[str, ...]  # further inputs with the sample axis: additional forward args


@dataclass(frozen=True, eq=False)
class Samples:
    arrays: dict[str, np.ndarray]  # every input; those with the sample axis hold ``count``
    batched: frozenset[str]  # inputs with the sample axis first
    count: int
    labels: np.ndarray | None  # the task's labels, when the samples are task samples
    truth: np.ndarray | None  # ground-truth relevance shaped like the attributed input
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


@dataclass(frozen=True)
class PlannedMethod:
    name: str
    cls: type[Explainer]
    skip: str | None  # why it cannot run on this model, or None


def choose_subject(context: AuditContext) -> Subject | str:
    """The attributed input (the task's primary input, else the first float input of rank
    >= 2, else the first integer (batch, seq) input) or why there is none."""
    arrays = context.inputs.arrays
    specs = [s for s in context.model.inputs if s.name in arrays]
    task = context.inputs.task
    chosen = _primary(specs, arrays, task.primary_input if task is not None else None)
    if chosen is None:
        described = ", ".join(
            f"{s.name} {arrays[s.name].dtype} {arrays[s.name].shape}" for s in specs
        )
        return (
            f"no input to attribute: attributions need a float input with a batch axis and "
            f"features, or integer token ids (batch, seq); the inputs are {described}"
        )
    array = arrays[chosen.name]
    modality: Modality
    if array.dtype.kind in "iu":
        modality = "tokens"
    elif array.ndim == 4:
        modality = "image"
    else:
        modality = "vector"
    batch = array.shape[0]
    others = tuple(
        s.name
        for s in specs
        if s.name != chosen.name and arrays[s.name].ndim >= 1 and arrays[s.name].shape[0] == batch
    )
    return Subject(chosen.name, modality, others)


def _primary(
    specs: list[TensorSpec], arrays: dict[str, np.ndarray], named: str | None
) -> TensorSpec | None:
    def usable(spec: TensorSpec) -> bool:
        a = arrays[spec.name]
        return (a.dtype.kind == "f" and a.ndim >= 2) or (a.dtype.kind in "iu" and a.ndim == 2)

    candidates = [s for s in specs if usable(s)]
    if named is not None:
        for spec in candidates:
            if spec.name == named:
                return spec
    floats = [s for s in candidates if arrays[s.name].dtype.kind == "f"]
    tokens = [s for s in candidates if s.index_range is not None]
    for group in (floats, tokens, candidates):
        if group:
            return group[0]
    return None


def gather_samples(context: AuditContext, subject: Subject, count: int) -> Samples:
    """``count`` samples: the audit's own when it has enough, else the task's test split,
    else further synthetic draws; inputs from --data are never mixed with synthetic ones."""
    arrays = context.inputs.arrays
    batch = int(arrays[subject.attributed].shape[0])
    batched = frozenset({subject.attributed, *subject.others})
    task = context.inputs.task
    if task is not None and batch < count:
        return _task_samples(context, batched, count)
    if batch >= count:
        cut = {n: (a[:count] if n in batched else a) for n, a in arrays.items()}
        labels = task.labels[:count] if task is not None else None
        truth = (
            task.truth_masks[:count] if task is not None and task.truth_masks is not None else None
        )
        source = f"the audit's first {count} samples" if batch > count else "the audit's samples"
        return Samples(cut, batched, count, labels, truth, source)
    sources = {t.name: t.source for t in context.inputs.tensors}
    if any(sources.get(n) == "data" for n in batched):
        note = (
            f"--data holds {batch} sample(s) and {count} were asked for; {batch} explained "
            "(pass more samples in --data to explain more)"
        )
        return Samples(dict(arrays), batched, batch, None, None, "--data", (note,))
    extended = _synthetic_samples(context, batched, count)
    return Samples(extended, batched, count, None, None, _synthetic_text(context, count))


def _task_samples(context: AuditContext, batched: frozenset[str], count: int) -> Samples:
    from harness.models.tasks import load_task

    task = context.inputs.task
    assert task is not None  # the caller checked
    data = load_task(task.task)
    available = len(data.y_test)
    notes: tuple[str, ...] = ()
    if count > available:
        notes = (f"task '{task.task}' has {available} test samples; {available} explained",)
        count = available
    test = data.test_batch(count)
    arrays = {n: test.get(n, a) for n, a in context.inputs.arrays.items()}
    truth = data.test_masks[:count] if data.test_masks is not None else None
    source = f"test samples 0-{count - 1} of task '{task.task}'"
    return Samples(arrays, batched, count, data.y_test[:count], truth, source, notes)


def _synthetic_samples(
    context: AuditContext, batched: frozenset[str], count: int
) -> dict[str, np.ndarray]:
    """The audit's synthetic batch, then draws with seeds seed+1, seed+2, ... (constants
    from --value repeated) until ``count`` samples."""
    arrays = context.inputs.arrays
    sources = {t.name: t.source for t in context.inputs.tensors}
    chunks: dict[str, list[np.ndarray]] = {n: [arrays[n]] for n in batched}
    offset = 1
    while sum(len(c) for c in chunks[next(iter(batched))]) < count:
        for name in batched:
            first = arrays[name]
            if sources.get(name) == "synthetic":
                spec = context.model.input(name)
                drawn, _, _ = synthetic_array(spec, first.shape, context.config.seed + offset)
                chunks[name].append(drawn)
            else:
                chunks[name].append(first)
        offset += 1
    out = dict(arrays)
    for name, parts in chunks.items():
        out[name] = np.concatenate(parts)[:count]
    return out


def _synthetic_text(context: AuditContext, count: int) -> str:
    seed = context.config.seed
    return f"{count} synthetic samples (the audit's inputs, then seeds {seed + 1}, {seed + 2}, ...)"


def plan_methods(
    names: tuple[str, ...],
    budget: str,
    modality: Modality,
    *,
    has_gradients: bool,
    no_gradients_reason: str,
    has_layer: bool,
) -> list[PlannedMethod]:
    """``names`` (or the budget's defaults) with each one's skip reason. Without gradients
    the defaults still list the gradient methods, skipped with ``no_gradients_reason``, so
    the result says what the model could not be given and why."""
    chosen = names or default_methods(budget, modality, has_gradients=True)
    planned = []
    for name in chosen:
        cls = get_method(name)
        reason = cls.skip_reason(modality)
        if reason is None and cls.needs_gradients and not has_gradients:
            reason = f"{name} needs gradients: {no_gradients_reason}"
        if reason is None:
            reason = cls.skip_reason(modality, has_layer=has_layer)
        planned.append(PlannedMethod(name, cls, reason))
    return planned
