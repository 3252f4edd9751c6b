"""One quick audit per session, and edited copies of its result.json for the gate tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from tests.gate.result_edits import Edit, plant_latency

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "zoo" / "cnn_digits.onnx"


@pytest.fixture(scope="session")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """result.json of a quick efficiency-only audit of the zoo CNN, its latency samples
    planted (``plant_latency``) so that no verdict depends on the machine's load."""
    out = tmp_path_factory.mktemp("gate") / "audit"
    args = ["audit", str(MODEL), "--budget", "quick", "--skip", "explanations"]
    assert main([*args, "--skip", "attention", "--out", str(out), "--quiet"]) == 0
    result = out / "result.json"
    data = json.loads(result.read_text())
    plant_latency()(data)
    result.write_text(json.dumps(data))
    return result


@pytest.fixture
def edited(audited: Path, tmp_path: Path) -> Callable[..., Path]:
    """edited(*edits, name=...) -> a copy of the audit's result.json with EDITS applied."""

    def make(*edits: Edit, name: str = "current") -> Path:
        data = json.loads(audited.read_text())
        for edit in edits:
            edit(data)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return path

    return make
