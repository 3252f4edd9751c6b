"""The attention stage through the CLI: what an audit records, skips and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.models import get_reference
from harness.stages.attention import BUDGETS
from harness.testing import attention_models as am

ZOO_ONNX = str(get_reference("transformer").onnx_path)
ENCODER = "harness.testing.attention_models:encoder_classifier"


def audit(model: str, out: Path, *extra: str) -> int:
    args = ["audit", model, "--out", str(out), "--quiet", "--budget", "quick"]
    return main([*args, "--skip", "efficiency", "--skip", "explanations", *extra])


def attention_of(out: Path) -> dict[str, Any]:
    data = json.loads((out / "result.json").read_text())
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)
    assert AuditResult.from_dict(data).to_dict() == data
    section: dict[str, Any] = data["attention"]
    return section


@pytest.fixture(scope="module")
def zoo_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("zoo") / "audit"
    assert audit(ZOO_ONNX, out) == 0
    return attention_of(out), (out / "report.html").read_text()


def test_zoo_transformer_onnx_is_captured_checked_and_analysed(zoo_onnx: Any) -> None:
    section, _ = zoo_onnx
    assert (section["status"], section["backend"], section["budget"]) == (
        "ok", "onnxruntime", "quick"
    )  # fmt: skip
    assert section["samples"] == BUDGETS["quick"].samples
    assert section["padding_input"] == "attention_mask"
    assert [layer["heads"] for layer in section["layers"]] == [4, 4]
    for layer in section["layers"]:
        check = layer["verification"]
        assert check["rows_sum_to_one"] and check["shape_ok"] and not check["padding_attended"]
        assert check["max_padding_weight"] == 0.0
        assert (check["recompute"], check["recompute_scale"]) == ("match", "1/sqrt(d_k)")
        assert all(0 <= h["entropy"] <= 1 for h in layer["head_stats"])
    assert section["rollout"]["layers"] == [0, 1]
    assert section["not_done"] == {}


def test_zoo_transformer_attends_to_the_triggers(zoo_onnx: Any) -> None:
    truth = zoo_onnx[0]["ground_truth"]
    assert truth["task"] == "trigger_tokens" and truth["samples"] >= 3
    for layer in truth["layers"]:
        assert layer["attention_auroc"] >= 0.9 and layer["rollout_auroc"] >= 0.9


def test_zoo_transformer_heads_are_ablated(zoo_onnx: Any) -> None:
    ablation = zoo_onnx[0]["ablation"]
    assert len(ablation["heads"]) == 8
    assert ablation["unablated_max_abs_diff"] == 0.0
    assert ablation["samples"] == BUDGETS["quick"].ablation_samples
    assert any(abs(h["drop"]) > ablation["tolerance"] for h in ablation["heads"])


def test_the_report_shows_the_attention_page(zoo_onnx: Any) -> None:
    section, html = zoo_onnx
    for key in ("maps-0", "maps-1", "entropy", "rollout", "importance"):
        assert f'id="fig-attention-{key}"' in html
    assert "Checks per layer" in html and "Ground truth" in html
    assert "/layers.0/attention/softmax/Softmax" in html
    assert "Padding gets attention" not in html
    assert len(section["display"]) == 2 and all(d["truth"] for d in section["display"])


def test_reference_module_agrees_with_its_onnx_export(zoo_onnx: Any, tmp_path: Path) -> None:
    assert audit("ref:transformer", tmp_path / "ref") == 0
    ref = attention_of(tmp_path / "ref")
    assert ref["backend"] == "torch"
    assert [layer["kind"] for layer in ref["layers"]] == ["softmax module"] * 2
    onnx_section = zoo_onnx[0]
    for ours, theirs in zip(ref["layers"], onnx_section["layers"], strict=True):
        assert ours["verification"]["recompute"] == "match"
        for a, b in zip(ours["head_stats"], theirs["head_stats"], strict=True):
            assert a["entropy"] == pytest.approx(b["entropy"], abs=1e-4)
            assert a["truth_auroc"] == pytest.approx(b["truth_auroc"], abs=1e-6)
    drops = [h["drop"] for h in ref["ablation"]["heads"]]
    assert drops == pytest.approx([h["drop"] for h in onnx_section["ablation"]["heads"]], abs=1e-3)


def test_torch_multihead_attention_is_captured_but_not_ablated(tmp_path: Path) -> None:
    assert audit(ENCODER, tmp_path / "a", "--shape", "ids=2x10:int64") == 0
    section = attention_of(tmp_path / "a")
    assert [layer["kind"] for layer in section["layers"]] == ["nn.MultiheadAttention"] * 2
    assert [layer["heads"] for layer in section["layers"]] == [am.HEADS] * am.LAYERS
    assert section["ablation"] is None
    assert "nn.MultiheadAttention cannot be zeroed" in section["not_done"]["ablation"]
    assert "no reference task" in section["not_done"]["ground truth"]


def test_a_model_whose_padding_gets_attention_is_flagged(tmp_path: Path) -> None:
    inputs = am.token_inputs(padded=True)
    np.savez(
        tmp_path / "inputs.npz", ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
    )
    model = "harness.testing.attention_models:mask_ignoring_classifier"
    shapes = ["--shape", "ids=2x10:int64", "--shape", "attention_mask=2x10:int64"]
    assert audit(model, tmp_path / "a", *shapes, "--data", str(tmp_path / "inputs.npz")) == 0
    section = attention_of(tmp_path / "a")
    assert section["padding_input"] == "attention_mask"
    for layer in section["layers"]:
        assert layer["verification"]["padding_attended"]
        assert layer["verification"]["max_padding_weight"] > 0.1
    html = (tmp_path / "a" / "report.html").read_text()
    assert "Padding gets attention in layer 0" in html


def test_a_long_sequence_is_shown_up_to_the_display_limit(tmp_path: Path) -> None:
    assert audit(ENCODER, tmp_path / "a", "--shape", "ids=1x80:int64") == 0
    section = attention_of(tmp_path / "a")
    (shown,) = section["display"]
    limit = section["display_token_limit"]
    assert shown["truncated"] and shown["total_tokens"] == 80 == section["sequence_tokens"]
    assert len(shown["tokens"]) == limit == len(shown["maps"][0][0])
    assert section["layers"][0]["query_tokens"] == 80  # analysed whole
    html = (tmp_path / "a" / "report.html").read_text()
    assert f"Sample 0 has 80 tokens; its maps show the first {limit}." in html


def test_a_model_without_attention_is_skipped(tmp_path: Path) -> None:
    model = str(get_reference("cnn_patch").onnx_path)
    assert audit(model, tmp_path / "a") == 0
    section = attention_of(tmp_path / "a")
    assert (section["status"], section["reason"]) == ("skipped", "no attention found")


def test_fused_attention_is_skipped_with_the_op_named(tmp_path: Path) -> None:
    model = am.fused_attention_model(tmp_path / "fused.onnx", "com.microsoft")
    assert audit(str(model), tmp_path / "a") == 0
    section = attention_of(tmp_path / "a")
    assert section["status"] == "skipped"
    assert section["reason"] == "fused attention (com.microsoft.Attention ×1)"
    assert section["fused_ops"] == ["com.microsoft.Attention ×1"]
    assert "com.microsoft.Attention" in (tmp_path / "a" / "report.html").read_text()


def test_a_capture_that_fails_fails_the_stage_only(tmp_path: Path, monkeypatch: Any) -> None:
    from harness.explainers.attention import capture_onnx

    def broken(self: Any, arrays: Any, with_qk: bool = False) -> Any:
        raise RuntimeError("session lost")

    monkeypatch.setattr(capture_onnx.OnnxCapturer, "run", broken)
    assert audit(ZOO_ONNX, tmp_path / "a") == 1
    section = attention_of(tmp_path / "a")
    assert section["status"] == "failed"
    assert section["reason"].startswith("attention capture failed: RuntimeError: session lost")


def test_budgets_bound_the_work() -> None:
    quick, standard, thorough = (BUDGETS[b] for b in ("quick", "standard", "thorough"))
    assert quick.samples < standard.samples < thorough.samples
    assert quick.ablation_samples < standard.ablation_samples < thorough.ablation_samples
    assert quick.max_ablated_heads <= standard.max_ablated_heads <= thorough.max_ablated_heads
