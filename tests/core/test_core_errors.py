"""The error tree's exit codes, first_line, and harness/core importing no heavy library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import harness.core
from harness.core import errors
from harness.core.errors import (
    USER_TEXT_LIMIT,
    DataError,
    ExitCode,
    HarnessError,
    InputError,
    InputResolutionError,
    InternalError,
    ModelLoadError,
    ModelOutputError,
    OutputExistsError,
    ResultFormatError,
    StageError,
    UnsupportedModelError,
    UsageError,
    first_line,
    shorten,
)

CORE_DIR = Path(harness.core.__file__).parent
REPO_ROOT = CORE_DIR.parent.parent
HEAVY_MODULES = ("torch", "onnx", "onnxruntime", "captum", "plotly")


def test_exit_code_values_match_the_documented_table() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "CHECK_FAILED": 1,
        "USAGE": 2,
        "INTERNAL": 3,
        "INCONCLUSIVE": 4,
        "PARTIAL": 5,
    }


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (HarnessError, ExitCode.INTERNAL),
        (UsageError, ExitCode.USAGE),
        (OutputExistsError, ExitCode.USAGE),
        (InputError, ExitCode.USAGE),
        (ModelLoadError, ExitCode.USAGE),
        (UnsupportedModelError, ExitCode.USAGE),
        (InputResolutionError, ExitCode.USAGE),
        (DataError, ExitCode.USAGE),
        (ModelOutputError, ExitCode.USAGE),
        (ResultFormatError, ExitCode.USAGE),
        (StageError, ExitCode.CHECK_FAILED),
        (InternalError, ExitCode.INTERNAL),
    ],
)
def test_exit_code_of_each_error(cls: type[HarnessError], code: ExitCode) -> None:
    assert cls.exit_code == code
    assert cls("message").exit_code == code


def test_every_exported_error_is_in_the_tree_and_has_a_code_tested() -> None:
    exported = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), BaseException)
    }
    tested = {
        "HarnessError",
        "UsageError",
        "OutputExistsError",
        "InputError",
        "ModelLoadError",
        "UnsupportedModelError",
        "InputResolutionError",
        "DataError",
        "ModelOutputError",
        "ResultFormatError",
        "StageError",
        "InternalError",
    }
    assert exported == tested
    assert all(issubclass(getattr(errors, name), HarnessError) for name in exported)


def test_input_errors_are_usage_class_but_not_usage_errors() -> None:
    assert issubclass(OutputExistsError, UsageError)
    assert issubclass(ResultFormatError, InputError)
    assert not issubclass(InputError, UsageError)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError("bad shape"), "bad shape"),
        (ValueError("\n\n  first real line  \nsecond line\n"), "first real line"),
        (RuntimeError(), "RuntimeError"),
        (RuntimeError("   \n  "), "RuntimeError"),
        (KeyError("name"), "'name'"),
    ],
)
def test_first_line(exc: BaseException, expected: str) -> None:
    assert first_line(exc) == expected


def test_first_line_truncates_long_lines_to_300_characters_keeping_the_cause() -> None:
    line = first_line(ValueError("x" * 1000 + " Failed to allocate memory\nnext"))
    assert len(line) == 300
    assert " ... " in line
    assert line.endswith("Failed to allocate memory")  # the cause comes last: kept
    exact = "y" * 300
    assert first_line(ValueError(exact)) == exact


def test_shorten_keeps_the_start_and_the_end() -> None:
    path = "/home/user/" + "deep/" * 300 + "model-final.onnx"
    short = shorten(path)
    assert len(short) == USER_TEXT_LIMIT
    assert short.startswith("/home/user/") and short.endswith("model-final.onnx")
    assert shorten("short") == "short"
    assert len(shorten("z" * 10**6, 50)) == 50


# --- harness/core stays light (that it imports no other harness package is a contract in
# .importlinter, checked by tests/test_architecture.py) ---------------------------------


def test_core_does_not_import_heavy_libraries() -> None:
    code = (
        "import json, sys\n"
        "import harness.core.result, harness.core.config, harness.core.model\n"
        "import harness.core.errors, harness.core.serialize, harness.core.schema\n"
        "harness.core.schema.load_result_schema()\n"
        f"print(json.dumps(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_schema_loads_without_jsonschema() -> None:
    code = (
        "import sys\n"
        "sys.modules['jsonschema'] = None\n"  # any import of it now fails
        "from harness.core.schema import load_result_schema\n"
        "from harness.core.result import SCHEMA_VERSION\n"
        "assert load_result_schema()['properties']['schema_version'] == {'const': SCHEMA_VERSION}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
