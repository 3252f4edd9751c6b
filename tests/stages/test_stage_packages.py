"""Every stage package has the same small surface: ``run(context)`` and ``BUDGETS``, and it
is cheap to import (the runner imports it only when the stage runs, but the surface itself
must not drag in the runtimes)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.budget import BudgetTable
from harness.core.config import STAGE_NAMES

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_stage_package_exposes_run_and_its_budgets(stage: str) -> None:
    package = importlib.import_module(f"harness.stages.{stage}")
    assert set(package.__all__) == {"BUDGETS", "run"}
    assert isinstance(package.BUDGETS, BudgetTable)
    assert callable(package.run)


def test_importing_the_stage_packages_imports_no_runtime() -> None:
    code = (
        "import sys\n"
        "import harness.stages.efficiency, harness.stages.explanations, "
        "harness.stages.attention, harness.stages.privacy\n"
        "heavy = {'torch', 'onnx', 'onnxruntime', 'captum', 'plotly', 'sklearn'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
