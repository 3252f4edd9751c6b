"""Input conventions from the wild through the CLI: a ``[?, ?]`` input sized by position,
``-1`` read as a dynamic dim, every missing size and value named in one error whose
command works, and a recurrent state whose batch is on axis 1 carried beside stacked
explanation samples (never stacked on axis 0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.testing.wild import inputs


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("inputs")
    return {name: str(build(folder)) for name, build, _, _ in inputs.CASES}


def audit(model: str, out: Path, *extra: str) -> int:
    args = ["audit", model, "--out", str(out), "--quiet", "--budget", "quick", "--threads", "1"]
    return main([*args, "--skip", "efficiency", "--samples", "2", *extra])


def result_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "result.json").read_text())
    assert AuditResult.from_dict(data).to_dict() == data  # schema-valid, round trip
    return data


def fed_shapes(result: dict[str, Any]) -> dict[str, list[int]]:
    return {t["name"]: t["shape"] for t in result["inputs"]["tensors"]}


def methods(result: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {m["name"]: (m["status"], m.get("reason")) for m in result["explanations"]["methods"]}


def test_unnamed_dims_are_refused_with_a_shape_that_then_works(models, tmp_path, capsys):
    assert audit(models["unnamed_dims"], tmp_path / "a", "--skip", "explanations") == 2
    err = capsys.readouterr().err
    assert "'input' dim 1 (unnamed and dynamic)" in err and "--shape input=NxN" in err
    out = tmp_path / "b"
    assert audit(models["unnamed_dims"], out, "--shape", "input=1x64") == 0
    result = result_of(out)
    assert fed_shapes(result) == {"input": [1, 64]}
    assert result["explanations"]["status"] == "ok"
    assert all(status == "ok" for status, _ in methods(result).values())
    # A linear classifier has no attention, and the reason says so.
    attention = result["attention"]
    assert (attention["status"], attention["reason"]) == ("skipped", "no attention found")


def test_minus_one_batch_is_dynamic_and_takes_the_batch_default(models, tmp_path):
    out = tmp_path / "a"
    assert audit(models["nhwc_minus_one"], out, "--skip", "attention") == 0
    result = result_of(out)
    name = "serving_default_input_1:0"
    assert fed_shapes(result) == {name: [1, 32, 32, 3]}
    assert any(f"'{name}' dim 0" in w and "set to 1" in w for w in result["inputs"]["warnings"])
    assert all(status == "ok" for status, _ in methods(result).values())
    # --shape sizes the -1 dim by position (it was refused as "fixed at -1").
    wider = tmp_path / "b"
    flags = ("--skip", "explanations", "--skip", "attention", "--shape", f"{name}=2x32x32x3")
    assert audit(models["nhwc_minus_one"], wider, *flags) == 0
    assert fed_shapes(result_of(wider)) == {name: [2, 32, 32, 3]}


def test_every_missing_input_is_named_in_one_error_and_its_command_works(models, tmp_path, capsys):
    assert audit(models["raw_audio"], tmp_path / "a") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("InputResolutionError: 2 inputs need")
    assert "pass all of: --shape audio=1xN --value sample_rate=V" in err
    out = tmp_path / "b"
    flags = ("--shape", "audio=1x40000", "--value", "sample_rate=16000")
    assert audit(models["raw_audio"], out, "--skip", "attention", *flags) == 0
    result = result_of(out)
    assert fed_shapes(result) == {"audio": [1, 40000], "sample_rate": []}
    assert result["explanations"]["status"] == "ok"


def test_a_state_with_its_batch_on_axis_1_is_carried_not_stacked(models, tmp_path, capsys):
    assert audit(models["stateful_rnn"], tmp_path / "a") == 2
    assert "--value sample_rate=V" in capsys.readouterr().err
    out = tmp_path / "b"
    flags = ("--shape", "features=1x50x16", "--value", "sample_rate=16000")
    # Two samples of features, the state [1, batch, 32] repeated on axis 1 for each call.
    code = audit(models["stateful_rnn"], out, "--skip", "attention", *flags)
    assert code == 0
    result = result_of(out)
    assert fed_shapes(result) == {
        "features": [1, 50, 16],
        "sample_rate": [],
        "initial_h": [1, 1, 32],
    }
    explanations = result["explanations"]
    assert explanations["status"] == "ok"
    found = methods(result)
    assert found["occlusion"][0] == "ok"
    # sample_rate is fixed by --value: the twin holds it as a constant, the If on it folds,
    # and the gradient methods run (they were skipped: "If with a data-dependent condition").
    for name in ("saliency", "integrated_gradients"):
        assert found[name] == ("ok", None)
    assert fixed_inputs_step(result) == "fixed sample_rate to its --value as a constant"


def fixed_inputs_step(result: dict[str, Any]) -> str:
    conversion = result["explanations"]["conversion"]
    assert conversion["status"] == "converted"
    (step,) = [s for s in conversion["steps"] if s["name"] == "fix_inputs"]
    return step["detail"]


def test_the_twin_takes_the_branch_the_fixed_value_picks(models, tmp_path):
    # 8 kHz takes the else branch (features halved); parity against onnxruntime, fed the
    # same 8000, passes only if the twin inlined that branch and not the other.
    out = tmp_path / "out"
    flags = ("--shape", "features=1x50x16", "--value", "sample_rate=8000")
    fast = ("--budget", "quick", "--skip", "attention", "--skip", "efficiency")
    assert audit(models["stateful_rnn"], out, *fast, *flags) == 0
    result = result_of(out)
    assert methods(result)["saliency"] == ("ok", None)
    assert "sample_rate" in fixed_inputs_step(result)
    parity = result["explanations"]["conversion"]["parity"]
    assert parity and all(o["ok"] for check in parity for o in check["outputs"])
