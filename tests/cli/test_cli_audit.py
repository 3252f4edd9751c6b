"""Audits through the CLI that must succeed: exit 0 and a schema-valid result."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from markupsafe import escape

from harness.cli import main
from harness.core.attention import AttentionSection
from harness.core.config import STAGE_NAMES
from harness.core.errors import StageError
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.core.thresholds import FindingThresholds
from harness.stages import runner as stages

REPO = Path(__file__).resolve().parents[2]


def audit(args: list[str], *, efficiency: bool = False) -> int:
    """An audit through the CLI; the efficiency stage (seconds of timing) only on request."""
    extra = [] if efficiency else ["--skip", "efficiency"]
    return main(["audit", *args, "--quiet", *extra])


def load_result(out: Path) -> dict:
    data = json.loads((out / "result.json").read_text())
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)
    # The JSON reads back into the same typed result.
    assert AuditResult.from_dict(data).to_dict() == data
    return data


@pytest.mark.parametrize(
    ("builder", "inputs"),
    [
        ("tiny_cnn", {"pixels": [1, 1, 28, 28]}),
        ("tiny_transformer", {"input_ids": [1, 64], "attention_mask": [1, 64]}),
        ("two_in_two_out", {"image": [1, 3, 16, 16], "features": [1, 8]}),
        ("token_ids_via_cast", {"ids": [1, 6]}),
        ("external_data_model", {"x": [1, 64]}),
    ],
)
def test_audit_of_exported_models(shelf, tmp_path, builder, inputs):
    out = tmp_path / "audit"
    assert audit([str(shelf.get(builder)), "--out", str(out)]) == 0
    result = load_result(out)
    fed = {t["name"]: t["shape"] for t in result["inputs"]["tensors"]}
    assert fed == inputs
    assert result["model"]["format"] == "onnx"
    assert result["model"]["node_count"] == sum(result["model"]["op_histogram"].values()) > 0
    assert result["efficiency"]["status"] == "skipped"
    assert result["explanations"]["status"] == "ok", result["explanations"]["reason"]
    assert (out / "report.html").read_text().count(result["model"]["name"]) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["resnet18", "mobilenet_v3_small"])
def test_audit_of_torchvision_models(shelf, tmp_path, builder):
    out = tmp_path / "audit"
    # Explanations of a ResNet: tests/cli/test_cli_explanations.py (minutes at standard).
    args = [str(shelf.get(builder)), "--out", str(out), "--skip", "explanations"]
    assert audit(args) == 0
    result = load_result(out)
    assert result["inputs"]["tensors"][0]["shape"] == [1, 3, 224, 224]
    assert result["inputs"]["outputs"][0]["shape"] == [1, 1000]
    assert result["model"]["parameter_count"] > 1_000_000


def test_transformer_token_ids_come_from_the_vocabulary(shelf, tmp_path):
    out = tmp_path / "audit"
    assert audit([str(shelf.get("tiny_transformer")), "--out", str(out)]) == 0
    tensors = {t["name"]: t for t in load_result(out)["inputs"]["tensors"]}
    ids = tensors["input_ids"]
    assert ids["generator"].startswith("token ids uniform in [0, 100)")
    assert 0 <= ids["min"] <= ids["max"] < 100
    assert tensors["attention_mask"]["min"] == tensors["attention_mask"]["max"] == 1


def test_defaults_are_recorded_as_warnings(shelf, tmp_path, capsys):
    out = tmp_path / "audit"
    args = ["audit", str(shelf.get("tiny_transformer")), "--out", str(out), "--skip", "efficiency"]
    assert main(args) == 0
    warnings = load_result(out)["inputs"]["warnings"]
    assert any("sequence" in w and "--shape" in w for w in warnings)
    # The model's position table has 64 rows: the default 128 fails and is halved, openly.
    assert any("default sequence length 128" in w for w in warnings)
    assert "warning:" in capsys.readouterr().err


def test_shape_flag_sets_symbolic_dims(shelf, tmp_path):
    out = tmp_path / "audit"
    model = str(shelf.get("tiny_transformer"))
    assert audit([model, "--out", str(out), "--shape", "input_ids=2x16"]) == 0
    result = load_result(out)
    assert result["inputs"]["dims"] == {"batch": 2, "sequence": 16}
    assert result["inputs"]["warnings"] == []
    assert result["inputs"]["outputs"][0]["shape"] == [2, 3]


def test_data_file_is_fed_as_given(shelf, tmp_path):
    import numpy as np

    pixels = np.linspace(0, 1, 2 * 28 * 28, dtype=np.float32).reshape(2, 1, 28, 28)
    np.savez(tmp_path / "batch.npz", pixels=pixels)
    out = tmp_path / "audit"
    model = str(shelf.get("tiny_cnn"))
    assert audit([model, "--out", str(out), "--data", str(tmp_path / "batch.npz")]) == 0
    (fed,) = load_result(out)["inputs"]["tensors"]
    assert fed["source"] == "data" and fed["shape"] == [2, 1, 28, 28]
    assert fed["min"] == 0.0 and fed["max"] == 1.0


def test_value_flag_fills_scalar_and_state(shelf, tmp_path):
    out = tmp_path / "audit"
    model = str(shelf.get("scalar_input_model"))
    assert audit([model, "--out", str(out), "--value", "gain=2.5"]) == 0
    tensors = {t["name"]: t for t in load_result(out)["inputs"]["tensors"]}
    assert tensors["gain"]["source"] == "value" and tensors["gain"]["shape"] == []
    assert tensors["gain"]["min"] == 2.5


def test_recurrent_state_defaults_to_zeros_with_a_warning(shelf, tmp_path):
    out = tmp_path / "audit"
    assert audit([str(shelf.get("recurrent_state_model")), "--out", str(out)]) == 0
    result = load_result(out)
    state = next(t for t in result["inputs"]["tensors"] if t["name"] == "h0")
    assert state["min"] == state["max"] == 0.0
    assert any("h0" in w and "--value h0=" in w for w in result["inputs"]["warnings"])


@pytest.mark.slow
def test_bundled_reference_cnn(tmp_path):
    onnx_out, ref_out = tmp_path / "onnx", tmp_path / "ref"
    bundled = REPO / "models" / "zoo" / "cnn_digits.onnx"
    assert audit([str(bundled), "--out", str(onnx_out)]) == 0
    assert audit(["ref:cnn", "--out", str(ref_out)]) == 0
    onnx_result, ref_result = load_result(onnx_out), load_result(ref_out)
    assert onnx_result["model"]["metadata"]["harness.reference"] == "cnn"
    assert ref_result["model"]["format"] == "pytorch"
    # The same weights, read from the ONNX initializers and from the module's parameters.
    assert onnx_result["model"]["parameter_count"] == ref_result["model"]["parameter_count"]
    assert ref_result["inputs"]["outputs"][0]["shape"] == [1, 10]


def test_factory_model(tmp_path, monkeypatch):
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.Softmax(-1))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "audit"
    # nn.Sequential.forward takes one argument named "input".
    assert audit(["userpkg.nets:build", "--shape", "input=4x6", "--out", str(out)]) == 0
    result = load_result(out)
    assert result["model"]["parameter_count"] == 6 * 3 + 3
    assert result["model"]["op_histogram"] == {"Linear": 1, "Softmax": 1}
    assert result["inputs"]["outputs"][0]["shape"] == [4, 3]


def test_skip_records_reason(shelf, tmp_path):
    out = tmp_path / "audit"
    model = str(shelf.get("tiny_cnn"))
    assert audit([model, "--out", str(out), "--skip", "attention", "--skip", "efficiency"]) == 0
    result = load_result(out)
    attention = result["attention"]
    assert (attention["status"], attention["reason"]) == ("skipped", "skipped by --skip")
    efficiency = result["efficiency"]
    assert (efficiency["status"], efficiency["reason"]) == ("skipped", "skipped by --skip")
    assert efficiency["runs"] == []
    assert result["config"]["skip"] == ["attention", "efficiency"]
    # Every step's wall time, in running order; a skipped stage takes (next to) none.
    seconds = result["stage_seconds"]
    assert list(seconds) == ["load", "inputs", *STAGE_NAMES]
    assert seconds["explanations"] > seconds["attention"] >= 0


def test_failed_stage_exits_1_and_is_recorded(shelf, tmp_path, monkeypatch):
    def broken(context):
        raise StageError("profiler could not bind the session")

    monkeypatch.setitem(stages.STAGES, "efficiency", broken)
    out = tmp_path / "audit"
    assert audit([str(shelf.get("tiny_cnn")), "--out", str(out)], efficiency=True) == 1
    section = load_result(out)["efficiency"]
    assert section["status"] == "failed"
    assert section["reason"] == "profiler could not bind the session"


def test_a_bug_in_one_stage_fails_that_stage_alone_and_exits_3(
    shelf, tmp_path, monkeypatch, capsys
):
    # A bug in one stage used to end the audit with nothing written, throwing away the
    # finished stages (issue 15): now its section is failed with the bug named, the other
    # stages run, the result is written, and the exit is still 3 so CI sees a bug.
    def buggy(context):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(stages.STAGES, "explanations", buggy)
    monkeypatch.setitem(stages.STAGES, "attention", lambda context: AttentionSection("ok"))
    out = tmp_path / "audit"
    assert audit([str(shelf.get("tiny_cnn")), "--out", str(out)]) == 3
    result = load_result(out)
    assert result["explanations"]["status"] == "failed"
    assert result["explanations"]["reason"] == (
        "internal error in the explanations stage: ZeroDivisionError: division by zero "
        "(a bug in the harness; rerun with --debug)"
    )
    assert result["attention"]["status"] == "ok"
    assert (out / "report.html").is_file()


def test_working_stage_section_is_kept(shelf, tmp_path, monkeypatch):
    monkeypatch.setitem(stages.STAGES, "attention", lambda context: AttentionSection("ok"))
    out = tmp_path / "audit"
    assert audit([str(shelf.get("tiny_cnn")), "--out", str(out)]) == 0
    attention = load_result(out)["attention"]
    assert (attention["status"], attention["reason"], attention["layers"]) == ("ok", None, [])


@pytest.mark.slow
def test_existing_output_needs_force(shelf, tmp_path, capsys):
    out = tmp_path / "audit"
    model = str(shelf.get("tiny_cnn"))
    assert audit([model, "--out", str(out)]) == 0
    first = (out / "result.json").read_text()
    assert audit([model, "--out", str(out), "--seed", "7"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "result.json").read_text() == first
    assert audit([model, "--out", str(out), "--seed", "7", "--force"]) == 0
    assert load_result(out)["config"]["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_default_out_dir_and_pyproject_settings(shelf, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.harness]\nseed = 5\nbudget = "quick"\n')
    # Thorough explanations take half a minute; the settings are what is tested here.
    args = [str(shelf.get("tiny_cnn")), "--budget", "thorough", "--skip", "explanations"]
    assert audit(args) == 0
    config = load_result(tmp_path / "audit-tiny_cnn")["config"]
    assert config["seed"] == 5  # from the file
    assert config["budget"] == "thorough"  # the flag wins
    assert config["sources"] == ["defaults", f"file:{tmp_path / 'pyproject.toml'}", "flags"]


def test_config_file_flag(shelf, tmp_path):
    settings = tmp_path / "audit.toml"
    settings.write_text('out = "from-config"\nshape = { pixels = "3x1x28x28" }\n')
    assert audit([str(shelf.get("tiny_cnn")), "--config", str(settings)]) == 0
    result = load_result(tmp_path / "from-config")
    assert result["inputs"]["tensors"][0]["shape"] == [3, 1, 28, 28]


def test_command_line_and_finding_thresholds_are_recorded(shelf, tmp_path):
    settings = tmp_path / "audit.toml"
    settings.write_text("[findings]\nlatency_cv_max = 0.25\nground_truth_margin = 0.3\n")
    out = tmp_path / "my audit"  # a space: the recorded command must quote it
    model = str(shelf.get("tiny_cnn"))
    assert audit([model, "--out", str(out), "--config", str(settings), "--skip", "attention"]) == 0
    result = load_result(out)
    command = result["command"]
    assert command.startswith("python -m harness audit ")
    assert shlex.split(command)[3:] == [
        "audit", model, "--out", str(out), "--config", str(settings), "--skip", "attention",
        "--quiet", "--skip", "efficiency",
    ]  # fmt: skip
    findings = result["config"]["findings"]
    assert findings["latency_cv_max"] == 0.25 and findings["ground_truth_margin"] == 0.3
    assert findings["memory_to_weights_max"] == FindingThresholds().memory_to_weights_max
    report = (out / "report.html").read_text()
    assert str(escape(command)) in report


def test_unknown_finding_threshold_is_a_usage_error(shelf, tmp_path, capsys):
    settings = tmp_path / "audit.toml"
    settings.write_text("[findings]\nlatency_cv = 0.25\n")
    out = tmp_path / "audit"
    assert audit([str(shelf.get("tiny_cnn")), "--out", str(out), "--config", str(settings)]) == 2
    err = capsys.readouterr().err.strip()
    assert "latency_cv" in err and "latency_cv_max" in err and "\n" not in err
    assert not out.exists()


def test_environment_is_recorded(shelf, tmp_path):
    out = tmp_path / "audit"
    assert audit([str(shelf.get("tiny_cnn")), "--out", str(out)]) == 0
    env = load_result(out)["environment"]
    assert env["logical_cores"] >= 1 and env["ram_bytes"] > 0
    assert env["packages"]["onnxruntime"] and env["packages"]["torch"]
    assert "CPUExecutionProvider" in env["onnxruntime_providers"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env
    )


def test_help_and_version_do_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "for argv in (['--help'], ['audit', '--help'], ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = {'torch', 'onnx', 'onnxruntime', 'captum', 'plotly', 'numpy', 'rich'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_help_documents_exit_codes():
    done = run_cli("audit", "--help")
    assert done.returncode == 0
    for line in ("0  audit completed", "2  bad usage or bad input", "3  internal error"):
        assert line in done.stdout
    assert "--shape" in done.stdout and "--value" in done.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("harness ")
