"""Input resolution: the concrete tensors an audit feeds the model, and how each was made.

Every input is fed from one of three sources, in this order of preference:
``--value NAME=V`` (a constant), ``--data`` (the user's arrays), or synthetic values chosen
by dtype and role. Synthetic roles (README documents the same table):

    role                                   values
    float tensor                           normal(0, 1), seeded per input
    integer that indexes a table           token ids uniform in [0, rows)
    name contains "mask"                   ones
    name contains "position" (integer)     0, 1, 2, ... along the last axis
    name like token_type/segment ids       zeros
    recurrent state (state, h0, c0, ...)   zeros, with a warning
    bool                                   false
    other integer                          zeros, with a warning
    rank-0 (scalar)                        no default: pass --value NAME=V

Every input's shape is resolved and its bytes counted against ``--max-input-bytes`` before
any input is allocated (``harness.intake.sizes``); ``--data`` is counted from its headers.
"""

from __future__ import annotations

import copy
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.array_stats import value_range
from harness.core.config import DEFAULT_MAX_INPUT_BYTES, AuditConfig, ScalarValue
from harness.core.errors import DataError, InputResolutionError, UsageError
from harness.core.model import MAX_RANK, LoadedModel, TensorSpec
from harness.core.result import FedTensor
from harness.intake.data_file import read_data, validate_array
from harness.intake.dims import DEFAULT_SEQUENCE, DimBinder
from harness.intake.samples import TaskSamples, task_samples
from harness.intake.sizes import InputBytes, array_bytes, describe

__all__ = ["ResolvedInputs", "looks_like_state", "resolve_inputs", "synthetic_array"]

_STATE_NAMES = re.compile(
    r"(^|[_.])(state|states|h0|c0|hx|cx|h_0|c_0|hidden|past|cache)([_.]|\d|$)", re.IGNORECASE
)
_SEGMENT_NAMES = re.compile(r"token_type|segment", re.IGNORECASE)


def looks_like_state(name: str) -> bool:
    """Whether an input's name marks it as a recurrent state or cache (h0, initial_h, ...)."""
    return bool(_STATE_NAMES.search(name))


@dataclass(frozen=True)
class ResolvedInputs:
    """The arrays to feed, in the model's input order, with what the result records."""

    arrays: dict[str, np.ndarray]
    tensors: tuple[FedTensor, ...]
    dims: dict[str, int]
    warnings: tuple[str, ...]
    sequence_defaulted: bool  # a sequence dim took the default size
    # The reference task's samples that were fed (with labels and ground-truth masks for
    # later stages), or None.
    task: TaskSamples | None = None
    # --max-input-bytes: stages that draw further samples stay within it too.
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES


def resolve_inputs(
    model: LoadedModel, config: AuditConfig, sequence_default: int = DEFAULT_SEQUENCE
) -> ResolvedInputs:
    _check_names(model, config)
    binder = DimBinder(sequence_default=sequence_default)
    budget = InputBytes(config.max_input_bytes)
    data_specs = tuple(s for s in model.inputs if s.name not in config.values)
    arrays = _from_data(config.data, data_specs, binder, budget) if config.data else {}
    task = None if config.data or config.values else _from_task(model, config, binder)
    if task is not None:
        arrays = task.arrays
    for spec in model.inputs:
        if spec.name in config.shapes:
            binder.bind_given(spec, config.shapes[spec.name], "--shape")
    shapes = _planned_shapes(model, arrays, binder, budget, frozenset(config.values))
    fed: dict[str, tuple[np.ndarray, FedTensor]] = {}
    for spec in model.inputs:
        if task is not None:
            array = arrays[spec.name]
            fed[spec.name] = (array, _record(spec, array, "task", task.description))
        elif spec.name in arrays:
            fed[spec.name] = (arrays[spec.name], _record(spec, arrays[spec.name], "data", "--data"))
        elif spec.name in config.values:
            fed[spec.name] = _constant(spec, shapes[spec.name], config.values[spec.name])
        else:
            fed[spec.name] = _synthetic(spec, shapes[spec.name], binder, config.seed)
    return ResolvedInputs(
        arrays={name: pair[0] for name, pair in fed.items()},
        tensors=tuple(pair[1] for pair in fed.values()),
        dims=dict(sorted(binder.sizes.items())),
        warnings=tuple(binder.warnings),
        sequence_defaulted=binder.sequence_defaulted,
        task=task,
        max_bytes=config.max_input_bytes,
    )


def _planned_shapes(
    model: LoadedModel,
    given: dict[str, np.ndarray],
    binder: DimBinder,
    budget: InputBytes,
    valued: frozenset[str],
) -> dict[str, tuple[int, ...]]:
    """The shape of every input intake builds (those not in ``given``), each counted
    against the input limit before any of them is allocated. Every input that lacks a size
    or a value is named in one error, so the command it suggests is the one that works."""
    _check_all_resolvable(model, given, binder, valued)
    shapes = {}
    for spec in model.inputs:
        if spec.name in given:
            continue
        shape = binder.resolve(spec)
        if len(shape) > MAX_RANK:
            raise InputResolutionError(
                f"input '{spec.name}' has {len(shape)} dims; numpy and the runtimes hold at "
                f"most {MAX_RANK}: pass a --shape of at most {MAX_RANK} dims"
            )
        nbytes = array_bytes(shape, _numpy_dtype(spec).itemsize)
        what = describe(spec.name, shape, spec.dtype)
        budget.add(what, nbytes, InputResolutionError, "pass a smaller --shape")
        shapes[spec.name] = shape
    return shapes


def _check_all_resolvable(
    model: LoadedModel, given: dict[str, np.ndarray], binder: DimBinder, valued: frozenset[str]
) -> None:
    """Raise one error naming every input with a dim no flag or default sizes and every
    scalar without --value (a lone one keeps its own message), with the flag for each."""
    problems: list[tuple[str, str]] = []  # (message, the flag that fixes it)
    trial = copy.deepcopy(binder)  # resolving binds defaults and warns: only once, later
    for spec in model.inputs:
        if spec.name in given:
            continue
        try:
            trial.resolve(spec)
        except InputResolutionError as exc:
            problems.append((str(exc), f"--shape {spec.name}={trial.example(spec)}"))
            continue
        if spec.rank == 0 and spec.name not in valued:
            message = (
                f"input '{spec.name}' is a scalar ({spec.dtype}) with no default value; "
                f"pass --value {spec.name}=V"
            )
            problems.append((message, f"--value {spec.name}=V"))
    if len(problems) == 1:
        raise InputResolutionError(problems[0][0])
    if problems:
        flags = " ".join(flag for _, flag in problems)
        raise InputResolutionError(
            f"{len(problems)} inputs need a size or a value; pass all of: {flags} "
            f"(N: a size you choose, V: a value) - " + "; ".join(message for message, _ in problems)
        )


def _check_names(model: LoadedModel, config: AuditConfig) -> None:
    known = {spec.name for spec in model.inputs}
    for flag, names in (("--shape", config.shapes), ("--value", config.values)):
        for name in names:
            if name not in known:
                raise UsageError(
                    f"{flag} names '{name}', which is not an input of {model.name}; "
                    f"its inputs are: {', '.join(sorted(known)) or 'none'}"
                )
    for spec in model.inputs:
        wanted = config.dtypes.get(spec.name)
        if wanted is not None and wanted != spec.dtype:
            raise UsageError(
                f"--shape {spec.name}=...:{wanted} asks for {wanted}, but the model declares "
                f"{spec.dtype}; drop the dtype or match it"
            )


def _from_task(model: LoadedModel, config: AuditConfig, binder: DimBinder) -> TaskSamples | None:
    """The model's task samples, bound into ``binder``; None (with a warning) if unusable."""
    batch = next((dims[0] for dims in config.shapes.values() if dims), 1)
    samples, note = task_samples(model, batch)
    if samples is None:
        if note:
            binder.warnings.append(note)
        return None
    trial = DimBinder(sequence_default=binder.sequence_default)
    try:
        for spec in model.inputs:
            validate_array(spec, samples.arrays[spec.name], trial)
            if spec.name in config.shapes:
                trial.bind_given(spec, config.shapes[spec.name], "--shape")
    except (DataError, UsageError) as exc:
        binder.warnings.append(
            f"task '{samples.task}' samples do not fit the requested inputs ({exc}); "
            "fed synthetic inputs"
        )
        return None
    binder.sizes.update(trial.sizes)
    binder.given_sizes.update(trial.given_sizes)
    return samples


def _from_data(
    path: Path, specs: tuple[TensorSpec, ...], binder: DimBinder, budget: InputBytes
) -> dict[str, np.ndarray]:
    arrays = read_data(path, specs, budget)
    for spec in specs:
        validate_array(spec, arrays[spec.name], binder)
    return arrays


def _constant(
    spec: TensorSpec, shape: tuple[int, ...], value: ScalarValue
) -> tuple[np.ndarray, FedTensor]:
    dtype = _numpy_dtype(spec)
    _check_value_fits(spec, dtype, value)
    array = np.full(shape, value, dtype=dtype)
    return array, _record(spec, array, "value", f"constant {value} (--value)")


def _check_value_fits(spec: TensorSpec, dtype: np.dtype, value: ScalarValue) -> None:
    fits = (
        (dtype.kind == "b" and isinstance(value, bool))
        or (
            dtype.kind in "iu"
            and isinstance(value, int)
            and not isinstance(value, bool)
            and np.iinfo(dtype).min <= value <= np.iinfo(dtype).max
        )
        or (
            dtype.kind == "f"
            and not isinstance(value, bool)
            and abs(value) <= float(np.finfo(dtype).max)  # 1e10 as float16 would be inf
        )
    )
    if not fits:
        raise UsageError(
            f"--value {spec.name}={value} does not fit input '{spec.name}' of dtype "
            f"{spec.dtype}; pass a value of that type"
        )
    # The rule --data follows: an id outside the table is not wrapped or clamped, it is
    # refused (a negative one would silently index from the end in Gather).
    rows = spec.index_range
    if rows is not None and not 0 <= value < rows:
        raise UsageError(
            f"--value {spec.name}={value}: input '{spec.name}' indexes a table of {rows} rows; "
            f"ids must lie in [0, {rows})"
        )


def _synthetic(
    spec: TensorSpec, shape: tuple[int, ...], binder: DimBinder, seed: int
) -> tuple[np.ndarray, FedTensor]:
    if spec.rank == 0:
        raise InputResolutionError(
            f"input '{spec.name}' is a scalar ({spec.dtype}) with no default value; "
            f"pass --value {spec.name}=V"
        )
    array, how, warning = synthetic_array(spec, shape, seed)
    if warning:
        binder.warnings.append(warning)
    return array, _record(spec, array, "synthetic", how)


def synthetic_array(
    spec: TensorSpec, shape: tuple[int, ...], seed: int
) -> tuple[np.ndarray, str, str | None]:
    """Values for ``spec`` by dtype and role: (array, how in words, warning or None)."""
    dtype = _numpy_dtype(spec)
    # One stream per input name: adding an input does not change the others' values.
    rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
    lowered = spec.name.lower()
    if "mask" in lowered and dtype.kind in "biuf":
        return np.ones(shape, dtype), "ones (attention mask)", None
    if dtype.kind == "b":
        return np.zeros(shape, dtype), "all false", None
    if _STATE_NAMES.search(spec.name):
        warning = (
            f"input '{spec.name}' looks like a recurrent state and was fed zeros; "
            f"pass --value {spec.name}=V to choose"
        )
        return np.zeros(shape, dtype), "zeros (initial state)", warning
    if dtype.kind == "f":
        # Drawn in the input's own precision (float16 via float32, which numpy's generator
        # has): drawing float64 and casting doubled the peak memory of a float32 input.
        drawn = np.float64 if dtype == np.float64 else np.float32
        values = rng.standard_normal(shape, dtype=drawn).astype(dtype, copy=False)
        return values, f"normal(0, 1), seed {seed}", None
    if dtype.kind not in "iu":
        raise InputResolutionError(
            f"input '{spec.name}' has dtype {spec.dtype}, which the harness cannot "
            f"synthesise; pass --data with an array for it"
        )
    return _synthetic_integers(spec, shape, dtype, rng, seed)


def _numpy_dtype(spec: TensorSpec) -> np.dtype:
    try:
        return np.dtype(spec.dtype)
    except TypeError as exc:  # "string", "bfloat16": no numpy dtype to build
        raise InputResolutionError(
            f"input '{spec.name}' has dtype {spec.dtype}, which the harness cannot "
            f"synthesise or feed; the model cannot be audited with such an input"
        ) from exc


def _synthetic_integers(
    spec: TensorSpec, shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator, seed: int
) -> tuple[np.ndarray, str, str | None]:
    lowered = spec.name.lower()
    if spec.index_range is not None:
        if spec.index_range < 1:
            raise InputResolutionError(
                f"input '{spec.name}' indexes a table of {spec.index_range} rows: no id is "
                "valid, the model cannot be fed"
            )
        # Drawn in the input's dtype (no int64 copy first); a table larger than the dtype
        # can index is drawn up to the dtype's largest value.
        high = min(spec.index_range, int(np.iinfo(dtype).max) + 1)
        ids = rng.integers(0, high, size=shape, dtype=dtype)
        return ids, f"token ids uniform in [0, {high}), seed {seed}", None
    if "position" in lowered and shape:
        positions = np.broadcast_to(np.arange(shape[-1], dtype=dtype), shape).copy()
        return positions, "0, 1, 2, ... along the last axis (positions)", None
    if _SEGMENT_NAMES.search(spec.name):
        return np.zeros(shape, dtype), "zeros (segment ids)", None
    warning = (
        f"input '{spec.name}' ({spec.dtype}) indexes no table the harness can read and was "
        f"fed zeros; pass --data or --value {spec.name}=V for meaningful values"
    )
    return np.zeros(shape, dtype), "zeros", warning


def _record(spec: TensorSpec, array: np.ndarray, source: str, how: str) -> FedTensor:
    low, high, mean = value_range(array)
    return FedTensor(
        name=spec.name,
        dtype=str(array.dtype),
        shape=tuple(int(d) for d in array.shape),
        source=source,  # type: ignore[arg-type]
        generator=how,
        min=low,
        max=high,
        mean=mean,
    )
