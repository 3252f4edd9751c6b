"""Reading ``--data``: an ``.npz`` keyed by input name, or an ``.npy`` for a one-input model.

Arrays are checked against the model's declared inputs (names, dtypes, ranks, fixed dims,
token-id range, finiteness, at least one value) before anything runs, so a mismatch gets a
message that names the input, what was expected and what was given, instead of an
onnxruntime error.

Before any data is read, each array's size is taken from its ``.npy`` header (in an
``.npz``, from each member's header and the zip's declared sizes, decompressing only the
header) and counted against ``--max-input-bytes``: a header that declares petabytes, or a
few megabytes of zip that inflate to gigabytes, is refused without being allocated.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from harness.core.errors import DataError, UsageError, first_line
from harness.core.model import TensorSpec, shape_text
from harness.intake.dims import DimBinder
from harness.intake.sizes import InputBytes, array_bytes

__all__ = ["read_data", "validate_array"]

# What reading a damaged or hostile .npy/.npz raises, each mapped to one DataError.
_READ_ERRORS = (
    OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError,
    NotImplementedError,
)  # fmt: skip


def read_data(
    path: Path,
    expected: tuple[TensorSpec, ...],
    budget: InputBytes,
    *,
    flag: str = "--data",
    optional: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """The arrays in ``path`` for the ``expected`` inputs; every one must be present, and
    together they must fit ``budget`` (checked before any is read). FLAG names the option
    the file came from in messages; OPTIONAL names further arrays it may hold (labels)."""
    arrays = _load(path, expected, budget, flag)
    names = [spec.name for spec in expected]
    missing = [name for name in names if name not in arrays]
    if missing:
        spec = next(s for s in expected if s.name == missing[0])
        raise DataError(
            f"{flag} {path.name} lacks input '{spec.name}' (expected {spec.dtype} "
            f"{spec.shape_text()}); it holds: {', '.join(sorted(arrays)) or 'nothing'}"
        )
    extra = sorted(set(arrays) - set(names) - set(optional))
    if extra:
        allowed = ", ".join((*names, *optional))
        raise DataError(
            f"{flag} {path.name} holds '{extra[0]}', which is not an input of the model "
            f"(allowed: {allowed}); remove it or rename it"
        )
    return arrays


def _load(
    path: Path, expected: tuple[TensorSpec, ...], budget: InputBytes, flag: str
) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{flag} file '{path}' does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise UsageError(f"{flag} must be an .npz or .npy file, got '{path.name}'")
    try:
        _count_declared(path, suffix, budget, flag)
        # allow_pickle=False: a data file must never run code.
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # an .npy: not a context manager
            return _arrays_from(loaded, path, expected, flag)
        with loaded:
            return _arrays_from(loaded, path, expected, flag)
    except _READ_ERRORS as exc:
        raise DataError(
            f"{flag} '{path}' cannot be read as {suffix} ({first_line(exc)}); "
            "write it with numpy.savez or numpy.save"
        ) from exc


def _count_declared(path: Path, suffix: str, budget: InputBytes, flag: str) -> None:
    """Count every array in the file against ``budget`` from what the file declares (the
    .npy headers, and each zip member's uncompressed size), reading no data."""
    fix = "pass fewer or smaller samples"
    if suffix == ".npy":
        with path.open("rb") as handle:
            shape, dtype = _npy_header(handle, path.name, flag)
        what = f"{flag} {path.name} ({shape_text(shape)} {dtype})"
        budget.add(what, array_bytes(shape, dtype.itemsize), DataError, fix)
        return
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            with archive.open(member) as handle:
                shape, dtype = _npy_header(handle, f"{path.name}:{member.filename}", flag)
            # The larger of the two: the header bounds what numpy allocates, the zip's
            # size bounds what decompressing would produce.
            nbytes = max(array_bytes(shape, dtype.itemsize), member.file_size)
            what = f"{flag} {path.name} array '{member.filename}' ({shape_text(shape)} {dtype})"
            budget.add(what, nbytes, DataError, fix)


def _npy_header(handle: IO[bytes], where: str, flag: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of the .npy at ``handle``'s position."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
    except ValueError as exc:  # no .npy magic: raw bytes, which np.load would hand back
        raise DataError(
            f"{flag} {where} is not a numpy array ({first_line(exc)}); "
            "write the file with numpy.savez or numpy.save"
        ) from exc
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(handle)
    else:
        raise DataError(
            f"{flag} {where} is .npy format version {version[0]}.{version[1]}, which the "
            "harness does not read; write it with numpy.save"
        )
    return tuple(int(d) for d in shape), dtype


def _arrays_from(loaded: object, path: Path, expected: tuple[TensorSpec, ...], flag: str) -> dict:
    if isinstance(loaded, np.ndarray):  # an .npy holds one unnamed array
        if len(expected) != 1:
            raise DataError(
                f"{flag} {path.name} is one .npy array, but the model needs "
                f"{len(expected)} inputs ({', '.join(s.name for s in expected)}); "
                "use an .npz keyed by input name"
            )
        return {expected[0].name: loaded}
    assert isinstance(loaded, np.lib.npyio.NpzFile)
    return {name: loaded[name] for name in loaded.files}


def validate_array(
    spec: TensorSpec, array: np.ndarray, binder: DimBinder, flag: str = "--data"
) -> None:
    """Raise DataError unless ``array`` can be fed as ``spec``; binds its symbolic dims.
    FLAG names the option the array came from in messages."""
    try:
        expected = np.dtype(spec.dtype)
    except TypeError as exc:  # "string", "bfloat16": no numpy dtype to feed
        raise DataError(
            f"input '{spec.name}' has dtype {spec.dtype}, which the harness cannot feed"
        ) from exc
    if array.dtype != expected:
        raise DataError(
            f"input '{spec.name}' expects {spec.dtype}, {flag} gives {array.dtype}; "
            f"cast it with .astype(numpy.{spec.dtype})"
        )
    if array.size == 0:
        raise DataError(
            f"input '{spec.name}' in {flag} holds no values (shape {shape_text(array.shape)}); "
            "an empty input cannot be audited: pass at least one sample"
        )
    binder.bind_given(spec, tuple(int(d) for d in array.shape), flag)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise DataError(f"input '{spec.name}' in {flag} holds NaN or infinite values")
    if spec.index_range is not None and array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= spec.index_range:
            raise DataError(
                f"input '{spec.name}' indexes a table of {spec.index_range} rows, but {flag} "
                f"holds values in [{low}, {high}]; ids must lie in [0, {spec.index_range})"
            )
