"""--quiet is quiet; warnings go into the result; what stderr shows is one line of visible text.

The model here is finite on its samples and infinite at the zero baseline (1/x), so every
metric that runs it on perturbed inputs fails and numpy warns on the softmax of infinities:
the warnings the fuzzing run saw leak through Python's last-resort handler and its warning
display. The quiet audit runs in a subprocess: under pytest, pytest's own log handlers and
warning recorder would swallow exactly the output the test is about.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.cli import main

FAST = ["--budget", "quick", "--skip", "efficiency", "--skip", "attention"]
NOTHING = [*FAST, "--skip", "explanations"]


def reciprocal_classifier(path: Path, input_name: str = "x", dim: str = "batch") -> Path:
    """y = (1/x) W: finite on normal samples, infinite wherever a feature is set to 0."""
    weights = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Reciprocal", [input_name], ["r"]),
            helper.make_node("MatMul", ["r", "W"], ["y"]),
        ],
        "reciprocal",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [dim, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dim, 3])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def nan_at_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reciprocal_classifier(tmp_path_factory.mktemp("models") / "reciprocal.onnx")


def test_a_quiet_audit_prints_nothing_on_stderr_and_keeps_the_warnings(nan_at_baseline, tmp_path):
    out = tmp_path / "audit"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    command = [sys.executable, "-m", "harness", "audit", str(nan_at_baseline)]
    done = subprocess.run(
        [*command, "--out", str(out), *FAST, "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # Only the verdict, the answer, which --quiet still prints (README: Exit codes).
    assert done.stderr.startswith("verdict: ") and done.stderr.count("\n") == 1, done.stderr
    result = json.loads((out / "result.json").read_text())
    notes = result["notes"]
    assert any(n.startswith("RuntimeWarning: ") for n in notes), notes
    assert any(n.startswith("metric faithfulness_correlation failed: ") for n in notes), notes
    assert len(notes) == len(set(notes))
    # What the stage could not measure at all is said once, in its own notes.
    stage_notes = result["explanations"]["notes"]
    assert any(
        n.startswith("deletion_auc failed for every method: the model returned NaN")
        for n in stage_notes
    ), stage_notes
    # The report shows the notes too.
    html = (out / "report.html").read_text()
    assert 'id="notes"' in html
    assert "RuntimeWarning: " in html


def test_without_quiet_each_warning_is_one_line_once(nan_at_baseline, tmp_path, capsys):
    out = tmp_path / "audit"
    assert main(["audit", str(nan_at_baseline), "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert any(line.startswith("warning: RuntimeWarning: ") for line in warnings), err
    assert any("metric deletion_auc failed: " in line for line in warnings), err
    assert len(warnings) == len(set(warnings))
    # No traceback, no source excerpt of the warning's line ("  shifted = np.exp(...)").
    assert "Traceback" not in err
    assert not [line for line in err.splitlines() if line.startswith("  ") and "=" in line]
    # The result holds them whether or not they were shown.
    notes = json.loads((out / "result.json").read_text())["notes"]
    assert any(n.startswith("RuntimeWarning: ") for n in notes)


def test_quiet_from_the_config_file_silences_warnings_too(nan_at_baseline, tmp_path, capsys):
    config = tmp_path / "harness.toml"
    config.write_text("quiet = true\n")
    out = tmp_path / "audit"
    args = ["audit", str(nan_at_baseline), "--out", str(out), "--config", str(config), *FAST]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.startswith("verdict: ") and err.count("\n") == 1, err
    assert json.loads((out / "result.json").read_text())["notes"]


def test_model_strings_on_stderr_are_visible_and_on_one_line(tmp_path, capsys):
    # An input name with a right-to-left override and a terminal escape, in a symbolic dim
    # that the harness sets by default: the warning names both.
    name = "x\u202ein\x1b[31m"
    model = reciprocal_classifier(tmp_path / "hostile.onnx", input_name=name, dim="n\u202e")
    assert main(["audit", str(model), "--out", str(tmp_path / "audit"), *NOTHING]) == 0
    err = capsys.readouterr().err
    assert "\u202e" not in err and "\x1b" not in err
    assert "input 'x\\u202ein\\u001b[31m' dim 0 (n\\u202e) set to 1" in err


def test_a_path_that_looks_like_markup_is_printed_as_text(tmp_path, capsys):
    # "[/]" is a closing tag to rich: printed as markup it raised MarkupError (exit 3).
    folder = tmp_path / "a["
    model = reciprocal_classifier(folder / "]b.onnx")
    assert main(["audit", str(model), "--out", str(tmp_path / "audit"), *NOTHING]) == 0
    assert f"loading {model}" in capsys.readouterr().err
