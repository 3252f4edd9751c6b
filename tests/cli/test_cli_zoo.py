"""Every zoo model audits through the CLI, as its committed ONNX file and as ref:NAME,
and is fed its task's real test samples."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.models import get_reference, reference_names


def audit(model: str, out) -> dict:
    code = main(["audit", model, "--out", str(out), "--quiet", "--skip", "efficiency"])
    assert code == 0
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", reference_names())
def test_zoo_onnx_file_is_fed_its_task(name, tmp_path):
    reference = get_reference(name)
    result = audit(str(reference.onnx_path), tmp_path / "onnx")
    assert result["model"]["metadata"]["harness.reference"] == name
    assert result["inputs"]["task"] == reference.task
    assert {t["source"] for t in result["inputs"]["tensors"]} == {"task"}
    assert result["inputs"]["warnings"] == []


@pytest.mark.slow
@pytest.mark.parametrize("name", reference_names())
def test_zoo_reference_module(name, tmp_path):
    result = audit(f"ref:{name}", tmp_path / "ref")
    assert result["model"]["format"] == "pytorch"
    assert result["inputs"]["task"] == get_reference(name).task
    out_shapes = [o["shape"] for o in result["inputs"]["outputs"]]
    declared = [o["shape"] for o in result["model"]["outputs"]]
    assert [len(s) for s in out_shapes] == [len(s) for s in declared]


def test_zoo_onnx_with_synthetic_tokens_stays_inside_the_vocabulary(tmp_path):
    # --value on one input turns the task samples off: token ids must come from the graph's
    # embedding table (64 rows), or onnxruntime's Gather fails.
    reference = get_reference("transformer")
    code = main(
        ["audit", str(reference.onnx_path), "--out", str(tmp_path / "a"), "--quiet",
         "--skip", "efficiency", "--value", "attention_mask=1", "--shape", "input_ids=2x16"]
    )  # fmt: skip
    assert code == 0
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    ids = next(t for t in result["inputs"]["tensors"] if t["name"] == "input_ids")
    assert ids["source"] == "synthetic" and ids["max"] < 64
