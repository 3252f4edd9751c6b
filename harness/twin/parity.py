"""The twin against onnxruntime: the input sizes to check at, and each output's difference.

A twin is judged elementwise, ``|twin - ort| <= atol + rtol * |ort|`` (a relative tolerance,
so large activations are not held to a fixed absolute bound), at the audit inputs and, where
dims are dynamic, at a second size.

The sizes respect what the model declares: the audit inputs are first fitted to the fixed
dims (a batch fixed at 1 is checked on the first row, not on the explanations' four), and a
second size is invented only along dynamic dims: one more along each dynamic axis 0 (rows
tiled), and each named dynamic sequence-like axis cut to half its length; when that cut
cannot run, the batch-only growth is tried instead. A second size that onnxruntime or the
twin cannot run (a pooling window larger than a shrunken map) is dropped with a note, never
a verdict: the twin is accepted when it matches at every size it was checked at, and its
record lists those sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import first_line
from harness.core.model import LoadedModel, TensorSpec
from harness.core.sessions import SessionSettings, create_session
from harness.core.twin import OutputParity, ParityCheck

__all__ = [
    "ParityOutcome",
    "ReferenceRuns",
    "check_parity",
    "compare_output",
    "fit_fixed_dims",
    "input_sets",
    "reference_runner",
    "reference_runs",
    "second_size",
    "second_sizes",
    "sizes_text",
]

Arrays = dict[str, np.ndarray]
Runner = Callable[[Arrays], Arrays]


@dataclass(frozen=True)
class ParityOutcome:
    checks: tuple[ParityCheck, ...]
    failure: str | None  # why the twin is rejected (the worst output, or a twin crash)
    note: str | None  # the sizes that could not be checked, and why


@dataclass(frozen=True)
class ReferenceRuns:
    """onnxruntime's outputs at the input sets it could run, the audit inputs first.

    ``failure`` says why onnxruntime cannot run the audit inputs themselves (then ``sets``
    is empty and no twin can be checked); ``notes`` name the later sets it could not run.
    """

    sets: tuple[Arrays, ...]
    expected: tuple[Arrays, ...]
    notes: tuple[str, ...] = ()
    failure: str | None = None


def input_sets(specs: Sequence[TensorSpec], arrays: Arrays) -> list[Arrays]:
    """The audit inputs fitted to the fixed dims, then each candidate second size."""
    fitted = fit_fixed_dims(specs, arrays)
    return [fitted, *second_sizes(specs, fitted)]


def fit_fixed_dims(specs: Sequence[TensorSpec], arrays: Arrays) -> Arrays:
    """``arrays`` cut (or tiled) to every dim the model fixes: samples gathered for a stage
    may hold more rows than a graph exported with a batch of 1 can take."""
    fitted = dict(arrays)
    for spec in specs:
        array = arrays.get(spec.name)
        if array is None or spec.rank != array.ndim:
            continue
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, int) and dim > 0 and array.shape[axis] not in (0, dim):
                array = np.take(array, np.arange(dim) % array.shape[axis], axis=axis)
        fitted[spec.name] = np.ascontiguousarray(array)
    return fitted


def second_sizes(specs: Sequence[TensorSpec], arrays: Arrays) -> list[Arrays]:
    """The second sizes to try, in order: the batch grown and sequences cut, then (when
    that differs) the batch grown alone; empty when no dim can change."""
    both = second_size(specs, arrays)
    batch_only = second_size(specs, arrays, cut_sequences=False)
    candidates = [c for c in (both, batch_only) if c is not None]
    if len(candidates) == 2 and _same_shapes(candidates[0], candidates[1]):
        candidates.pop()
    return candidates


def second_size(
    specs: Sequence[TensorSpec], arrays: Arrays, *, cut_sequences: bool = True
) -> Arrays | None:
    """``arrays`` resized along their dynamic dims, or None when no dim can change.

    A dynamic axis 0 grows by one (rows tiled from the start); a named dynamic axis past 0
    longer than 2 is cut to ceil(half), alike in every input that shares the name (a name
    whose lengths differ between inputs is left alone).
    """
    batch_names = {spec.shape[0] for spec in specs if spec.rank and isinstance(spec.shape[0], str)}
    cuts = _sequence_cuts(specs, arrays, batch_names) if cut_sequences else {}
    resized, changed = dict(arrays), False
    for spec in specs:
        array = arrays[spec.name]
        if spec.rank != array.ndim or not array.ndim:
            continue
        if not isinstance(spec.shape[0], int) and array.shape[0] > 0:
            array = np.take(array, np.arange(array.shape[0] + 1) % array.shape[0], axis=0)
            changed = True
        for axis, dim in enumerate(spec.shape[1:], start=1):
            if isinstance(dim, str) and dim in cuts:
                array = np.take(array, np.arange(cuts[dim]), axis=axis)
                changed = True
        resized[spec.name] = np.ascontiguousarray(array)
    return resized if changed else None


def _same_shapes(a: Arrays, b: Arrays) -> bool:
    return all(a[name].shape == b[name].shape for name in a)


def _sequence_cuts(
    specs: Sequence[TensorSpec], arrays: Arrays, batch_names: set[Any]
) -> dict[str, int]:
    lengths: dict[str, set[int]] = {}
    for spec in specs:
        array = arrays[spec.name]
        if spec.rank != array.ndim:
            continue
        for axis, dim in enumerate(spec.shape[1:], start=1):
            if isinstance(dim, str) and dim not in batch_names:
                lengths.setdefault(dim, set()).add(int(array.shape[axis]))
    return {
        name: math.ceil(next(iter(sizes)) / 2)
        for name, sizes in lengths.items()
        if len(sizes) == 1 and next(iter(sizes)) > 2
    }


def reference_runner(model: LoadedModel) -> Runner:
    """onnxruntime (CPU, its default threads) on the original model, output name -> array."""
    from harness.runtime.forward import create_onnx_session

    if model.path is not None:
        session = create_onnx_session(model, "cpu", None)
    else:
        session = create_session(model.onnx_proto, SessionSettings())
    names = [o.name for o in session.get_outputs()]

    def run(feeds: Arrays) -> Arrays:
        values = session.run(names, feeds)
        return {name: np.asarray(v) for name, v in zip(names, values, strict=True)}

    return run


def reference_runs(make_runner: Callable[[], Runner], sets: Sequence[Arrays]) -> ReferenceRuns:
    """onnxruntime on every set: the first must run (else ``failure``); a later one it
    cannot run is left out with a note."""
    try:
        runner = make_runner()
        first = runner(sets[0])
    except Exception as exc:
        return ReferenceRuns((), (), failure=first_line(exc))
    kept, expected, notes = [sets[0]], [first], []
    for feeds in sets[1:]:
        try:
            expected.append(runner(feeds))
        except Exception as exc:
            notes.append(_unchecked(feeds, f"onnxruntime cannot run them ({first_line(exc)})"))
            continue
        kept.append(feeds)
    return ReferenceRuns(tuple(kept), tuple(expected), tuple(notes))


def check_parity(runs: ReferenceRuns, twin: Runner, rtol: float, atol: float) -> ParityOutcome:
    """The twin on every set onnxruntime ran, against its outputs: the first set (the
    audit inputs) must run and match; of the later ones the first the twin can run is
    checked (one it cannot run is dropped with a note, never a verdict)."""
    checks: list[ParityCheck] = []
    notes = list(runs.notes)
    failure = None
    for index, (feeds, expected) in enumerate(zip(runs.sets, runs.expected, strict=True)):
        try:
            actual = twin(feeds)
        except Exception as exc:  # no twin at the audit inputs; elsewhere: a note
            why = f"{type(exc).__name__}: {first_line(exc)}"
            if index == 0:
                failure = f"the twin fails at input sizes {sizes_text(feeds)}: {why}"
                break
            notes.append(_unchecked(feeds, f"the twin cannot run them ({why})"))
            continue
        outputs = tuple(
            compare_output(name, actual[name], value, rtol, atol)
            for name, value in expected.items()
        )
        check = ParityCheck({n: tuple(int(d) for d in a.shape) for n, a in feeds.items()}, outputs)
        checks.append(check)
        if failure is None and not check.ok:
            failure = _mismatch_reason(check, actual, expected, rtol)
        if index > 0:
            break  # one second size is the check; later sets were its fallbacks
    return ParityOutcome(tuple(checks), failure, _note(checks, notes))


def _unchecked(feeds: Arrays, why: str) -> str:
    return f"not checked at {sizes_text(feeds)}: {why}"


def _note(checks: list[ParityCheck], notes: list[str]) -> str | None:
    """The sizes checked, then those that could not be, and why; None when none was
    dropped."""
    if not notes or not checks:
        return None
    sizes = " and ".join(_shapes_text(c.input_shapes) for c in checks)
    only = " only" if len(checks) == 1 else ""
    return f"checked at input sizes {sizes}{only}; " + "; ".join(notes)


def compare_output(
    name: str, twin: np.ndarray, reference: np.ndarray, rtol: float, atol: float
) -> OutputParity:
    """max |a-b|, max |a-b| / max(|b|, atol), and whether every element is within
    ``atol + rtol * |b|``. A shape difference or a NaN on either side fails, with inf."""
    twin, reference = np.asarray(twin), np.asarray(reference)
    if twin.shape != reference.shape:
        return OutputParity(name, math.inf, math.inf, False)
    if not twin.size:
        return OutputParity(name, 0.0, 0.0, True)
    a, b = twin.astype(np.float64), reference.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(a == b, 0.0, np.abs(a - b))  # equal infinities differ by nothing
    diff = np.where(np.isnan(a) | np.isnan(b), np.inf, diff)
    scale = np.maximum(np.abs(b), max(atol, np.finfo(np.float64).tiny))
    with np.errstate(invalid="ignore"):
        relative = np.where(diff == 0.0, 0.0, diff / scale)
    ok = bool(np.all(diff <= atol + rtol * np.abs(b)))
    return OutputParity(name, float(diff.max()), float(relative.max()), ok)


def _mismatch_reason(check: ParityCheck, actual: Arrays, expected: Arrays, rtol: float) -> str:
    worst = max((o for o in check.outputs if not o.ok), key=lambda o: o.max_rel)
    twin, reference = np.asarray(actual[worst.name]), np.asarray(expected[worst.name])
    where = f"at input sizes {_shapes_text(check.input_shapes)}"
    if twin.shape != reference.shape:
        return (
            f"output '{worst.name}' is {_shape(twin.shape)} on the twin but "
            f"{_shape(reference.shape)} on onnxruntime {where}"
        )
    if math.isinf(worst.max_abs):
        return f"output '{worst.name}' has NaN or inf where the other side does not {where}"
    return (
        f"output '{worst.name}' differs by max {worst.max_abs:.3g} "
        f"(rel {worst.max_rel:.2g} > rtol {rtol:g}) {where}"
    )


def sizes_text(arrays: Arrays) -> str:
    return _shapes_text({name: tuple(a.shape) for name, a in arrays.items()})


def _shapes_text(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {_shape(shape)}" for name, shape in shapes.items())


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"
