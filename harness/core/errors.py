"""The harness's one exception tree, and the exit codes it maps to.

    HarnessError                    exit 3 (base class; not raised itself)
    ├── UsageError                  exit 2  a flag, a config key or a combination is wrong
    │   └── OutputExistsError       exit 2  the output folder exists and --force was not given
    ├── InputError                  exit 2  the model or data handed in cannot be audited
    │   ├── ModelLoadError                  missing, corrupt, fails the checker, bad external data
    │   ├── UnsupportedModelError           the runtime cannot run one of its ops
    │   ├── InputResolutionError            inputs cannot be built (unresolved dim, missing --value)
    │   ├── DataError                       --data does not match the model's inputs
    │   ├── ModelOutputError                the model produced NaN or infinite outputs
    │   └── ResultFormatError               a result.json that cannot be read or upgraded
    ├── StageError                  exit 1  a stage could not finish; recorded as `failed`, the
    │                                       audit goes on (the CLI never sees it)
    └── InternalError               exit 3  a bug in the harness

Third-party errors (onnx, onnxruntime, numpy, torch) are caught at the boundary where
they happen and re-raised as one of these, ``from exc``; the CLI catches only these.
Every message says what failed, the offending value, and what to do next; a value the user
typed is echoed through ``shorten`` so that one error stays one readable line.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "FOREIGN_TEXT_LIMIT",
    "USER_TEXT_LIMIT",
    "DataError",
    "ExitCode",
    "HarnessError",
    "InputError",
    "InputResolutionError",
    "InternalError",
    "ModelLoadError",
    "ModelOutputError",
    "OutputExistsError",
    "ResultFormatError",
    "StageError",
    "UnsupportedModelError",
    "UsageError",
    "first_line",
    "is_out_of_memory",
    "shorten",
]

# Where a user's string (a path, a flag's value) is echoed: long enough to recognise it,
# short enough that one error stays one readable line (a 1M-character --out once made a
# 1 MB error line).
USER_TEXT_LIMIT = 120
# A third-party message (onnxruntime, torch) keeps more: its cause is often at its end.
FOREIGN_TEXT_LIMIT = 300
_CUT = " ... "


class ExitCode(IntEnum):
    """Exit codes of ``python -m harness``; README and ``--help`` document the same table."""

    OK = 0  # audit completed
    CHECK_FAILED = 1  # audit completed, and a check or a stage failed
    USAGE = 2  # bad usage or bad input
    INTERNAL = 3  # internal error
    INCONCLUSIVE = 4  # gate: too few samples or too much noise to decide (see --inconclusive)
    PARTIAL = 5  # audit-many, audit --samples all: a work unit failed every attempt


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL


class UsageError(HarnessError):
    exit_code = ExitCode.USAGE


class OutputExistsError(UsageError):
    pass


class InputError(HarnessError):
    exit_code = ExitCode.USAGE


class ModelLoadError(InputError):
    pass


class UnsupportedModelError(InputError):
    pass


class InputResolutionError(InputError):
    pass


class DataError(InputError):
    pass


class ModelOutputError(InputError):
    pass


class ResultFormatError(InputError):
    pass


class StageError(HarnessError):
    exit_code = ExitCode.CHECK_FAILED


class InternalError(HarnessError):
    exit_code = ExitCode.INTERNAL


def shorten(text: str, limit: int = USER_TEXT_LIMIT) -> str:
    """TEXT cut to at most LIMIT characters around " ... ", keeping its start and its end.

    The end gets two thirds: a path's file name and a runtime's cause ("Failed to allocate
    memory ...") come last, and cutting them off loses what the reader needs.
    """
    if len(text) <= limit:
        return text
    kept = max(limit - len(_CUT), 2)
    head = kept // 3
    return text[:head] + _CUT + text[len(text) - (kept - head) :]


def first_line(exc: BaseException, limit: int = FOREIGN_TEXT_LIMIT) -> str:
    """The first non-empty line of a third-party exception's message, at most LIMIT
    characters (its start and its end, see :func:`shorten`).

    Used where foreign errors are mapped onto this tree: the CLI prints one line, and
    onnx/onnxruntime messages can run to pages.
    """
    text = str(exc).strip() or type(exc).__name__
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return shorten(line, limit)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the machine ran out of memory: Python's MemoryError or torch's
    OutOfMemoryError (CUDA or CPU; a RuntimeError), recognised by name so that no caller
    needs to import torch. What a machine lacks is not a bug in the harness."""
    return isinstance(exc, MemoryError) or any(
        cls.__name__ == "OutOfMemoryError" for cls in type(exc).__mro__
    )
