"""The twin against onnxruntime: the input sizes to check at, and each output's difference.

A twin is judged elementwise, ``|twin - ort| <= atol + rtol * |ort|`` (a relative tolerance,
so large activations are not held to a fixed absolute bound), at the audit inputs and, where
dims are dynamic, at a second size: one more along each dynamic axis 0 (rows tiled), and
each named dynamic sequence-like axis cut to half its length.
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
    "check_parity",
    "compare_output",
    "input_sets",
    "reference_runner",
    "second_size",
    "sizes_text",
]

Arrays = dict[str, np.ndarray]
Runner = Callable[[Arrays], Arrays]


@dataclass(frozen=True)
class ParityOutcome:
    checks: tuple[ParityCheck, ...]
    failure: str | None  # why the twin is rejected (the worst output, or a twin crash)
    note: str | None  # a check that could not be made (onnxruntime fails at the second size)


def input_sets(specs: Sequence[TensorSpec], arrays: Arrays) -> list[Arrays]:
    """The audit inputs, then the second size when any dim is dynamic."""
    second = second_size(specs, arrays)
    return [arrays] if second is None else [arrays, second]


def second_size(specs: Sequence[TensorSpec], arrays: Arrays) -> Arrays | None:
    """``arrays`` resized along their dynamic dims, or None when no dim can change.

    A dynamic axis 0 grows by one (rows tiled from the start); a named dynamic axis past 0
    longer than 2 is cut to ceil(half), alike in every input that shares the name (a name
    whose lengths differ between inputs is left alone).
    """
    batch_names = {spec.shape[0] for spec in specs if spec.rank and isinstance(spec.shape[0], str)}
    cuts = _sequence_cuts(specs, arrays, batch_names)
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


def check_parity(
    reference: Runner, twin: Runner, sets: Sequence[Arrays], rtol: float, atol: float
) -> ParityOutcome:
    """Both runners on every input set; the first set must run on onnxruntime (the caller
    has made sure), a later one that onnxruntime rejects is noted and left out."""
    checks: list[ParityCheck] = []
    failure = note = None
    for index, feeds in enumerate(sets):
        try:
            expected = reference(feeds)
        except Exception as exc:
            if index == 0:
                raise
            note = (
                f"checked at one size only: onnxruntime fails at input sizes "
                f"{sizes_text(feeds)} ({first_line(exc)})"
            )
            continue
        try:
            actual = twin(feeds)
        except Exception as exc:  # a twin that cannot run at this size is no twin
            why = f"{type(exc).__name__}: {first_line(exc)}"
            return ParityOutcome(
                tuple(checks), f"the twin fails at input sizes {sizes_text(feeds)}: {why}", note
            )
        outputs = tuple(
            compare_output(name, actual[name], value, rtol, atol)
            for name, value in expected.items()
        )
        check = ParityCheck({n: tuple(int(d) for d in a.shape) for n, a in feeds.items()}, outputs)
        checks.append(check)
        if failure is None and not check.ok:
            failure = _mismatch_reason(check, actual, expected, rtol)
    return ParityOutcome(tuple(checks), failure, note)


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
