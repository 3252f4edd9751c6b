"""Installing the harness adds one import name, ``harness``.

models/, explainers/ and reports/ stay at the repository's top level and install as
harness.models, harness.explainers and harness.reports through the links in harness/
(docs/architecture.md, "One import name"): a user's own ``models`` package, in the folder
they audit from, must neither shadow ours nor be shadowed by it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "harness"
TOP_LEVEL_FOLDERS = ("models", "explainers", "reports")

# Left out of the copy the wheel is built from: build output and caches, which setuptools
# would otherwise reuse (a stale build/lib can hide a file that no longer installs).
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".tox", ".venv", ".benchmarks"
)


def clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH: only the installed harness is importable."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    # Built from a copy of the working tree, so the test writes nothing into the repository
    # (setuptools puts build/ and *.egg-info beside pyproject.toml); the links are copied
    # as links, as a checkout has them.
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=_NOT_SOURCES)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--disable-pip-version-check", "--quiet", "-w", str(root / "dist"), "."]
    done = subprocess.run(
        command, cwd=source, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (root / "dist").glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def wheel_names(wheel: zipfile.ZipFile) -> set[str]:
    return set(wheel.namelist())


@pytest.mark.slow  # building the wheel takes about 5 s
def test_wheel_installs_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    names = wheel_names(wheel)
    (top_level,) = [name for name in names if name.endswith(".dist-info/top_level.txt")]
    assert wheel.read(top_level).decode().split() == ["harness"]
    python_roots = {PurePosixPath(name).parts[0] for name in names if name.endswith(".py")}
    assert python_roots == {"harness"}


@pytest.mark.slow
def test_wheel_holds_the_zoo_templates_and_schema(wheel: zipfile.ZipFile) -> None:
    names = wheel_names(wheel)
    data = {
        "harness/models/zoo": REPO / "models" / "zoo",
        "harness/reports/templates": REPO / "reports" / "templates",
        "harness/core/schema": HARNESS / "core" / "schema",
    }
    for inside, folder in data.items():
        files = [path for path in folder.iterdir() if path.is_file() and path.suffix != ".py"]
        assert files, f"nothing in {folder}"
        missing = sorted(path.name for path in files if f"{inside}/{path.name}" not in names)
        assert missing == [], inside
    assert "harness/core/schema/result.schema.json" in names
    assert "harness/models/zoo/cnn_digits.onnx" in names
    assert "harness/reports/templates/report.html.j2" in names


@pytest.mark.slow
def test_wheel_holds_every_package_under_harness(wheel: zipfile.ZipFile) -> None:
    names = wheel_names(wheel)
    # os.walk(followlinks=True): harness/models, explainers and reports are links
    packages = [
        Path(folder).relative_to(REPO).as_posix()
        for folder, _, files in os.walk(HARNESS, followlinks=True)
        if "__init__.py" in files
    ]
    assert {"harness/models", "harness/explainers/methods", "harness/reports"} <= set(packages)
    missing = sorted(package for package in packages if f"{package}/__init__.py" not in names)
    assert missing == []


def user_folder(root: Path) -> Path:
    """A folder with its own models/, reports/ and explainers/ packages that define nothing
    the harness needs (no get_reference, no templates, no methods)."""
    for name in TOP_LEVEL_FOLDERS:
        package = root / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f'"""The user\'s own {name}."""\nUSERS = True\n')
    return root


@pytest.mark.slow
def test_audit_runs_beside_a_users_own_models_reports_and_explainers(tmp_path: Path) -> None:
    cwd = user_folder(tmp_path / "project")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "harness", "audit", "ref:cnn", "--budget", "quick"]
    command += ["--skip", "explanations", "--skip", "attention", "--out", str(out), "--quiet"]
    done = subprocess.run(
        command, cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "result.json").stat().st_size > 0


def test_a_users_models_package_is_the_one_imported(tmp_path: Path) -> None:
    cwd = user_folder(tmp_path / "project")
    code = "import models; print(models.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert Path(done.stdout.strip()) == cwd / "models" / "__init__.py"


def test_the_install_exposes_only_harness(tmp_path: Path) -> None:
    # From a folder with nothing in it, so only the installed distribution can answer.
    code = (
        "import importlib.util as u; "
        f"print([n for n in {TOP_LEVEL_FOLDERS!r} if u.find_spec(n) is not None]); "
        "print(u.find_spec('harness') is not None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
