"""Heads from the wild through the CLI: each output kind gets the target that means
something for it (recorded in the result), --target names any form, a vision transformer
whose attention softmax shape inference cannot rank is found, every Softmax says why it
is or is not attention, and head redundancy is never claimed from one sample."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.stages.attention import BUDGETS
from harness.testing.wild import heads

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "sentence_embedding": heads.build_sentence_embedding,
    "segmentation": heads.build_segmentation,
    "ctc_head": heads.build_ctc_head,
    "detection_head": heads.build_detection_head,
    "vit_unranked": heads.build_vit_unranked,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("heads")
    return {name: str(build(folder)) for name, build in BUILDERS.items()}


def audit(model: str, out: Path, *extra: str) -> int:
    args = ["audit", model, "--out", str(out), "--quiet", "--budget", "quick", "--threads", "1"]
    return main([*args, "--skip", "efficiency", *extra])


def explain(model: str, out: Path, *extra: str) -> int:
    """Occlusion on two samples: it runs on onnxruntime (no twin), and every metric scores
    the target."""
    flags = ("--skip", "attention", "--explainers", "occlusion", "--samples", "2")
    return audit(model, out, *flags, *extra)


def result_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "result.json").read_text())
    assert AuditResult.from_dict(data).to_dict() == data  # schema-valid, round trip
    return data


@pytest.mark.parametrize(
    ("name", "output_kind", "target_kind", "words"),
    [
        ("sentence_embedding", "embedding", "norm", "made by ReduceSum, no softmax"),
        ("segmentation", "dense map", "region", "a map of the input's spatial size 16x16"),
        ("ctc_head", "sequence", "sequence", "time-major (time, batch, classes)"),
        ("detection_head", "detections", "detection", "rows of [x1, y1, x2, y2, score, class]"),
        ("vit_unranked", "classes", "predicted", "the predicted class (argmax) per sample"),
    ],
)
def test_each_output_kind_gets_its_documented_target(
    models: dict[str, str],
    tmp_path: Path,
    name: str,
    output_kind: str,
    target_kind: str,
    words: str,
) -> None:
    assert explain(models[name], tmp_path / "a") == 0
    section = result_of(tmp_path / "a")["explanations"]
    assert section["status"] == "ok", section["reason"]
    assert (section["output_kind"], section["target_kind"]) == (output_kind, target_kind)
    assert words in section["target"]
    (occlusion,) = section["methods"]
    assert occlusion["status"] == "ok", occlusion["reason"]
    # The target is a score per sample, not one coordinate: occlusion moves it.
    assert any(v != 0 for a in occlusion["attributions"] for v in a["values"])
    deletion = next(m for m in occlusion["metrics"] if m["name"] == "deletion_auc")
    assert deletion["value"] is not None and deletion["parameters"]["use_softmax"] == (
        1 if output_kind == "classes" else 0
    )


@pytest.mark.parametrize(
    ("name", "target", "target_kind"),
    [
        ("segmentation", "predicted", "predicted"),
        ("segmentation", "norm", "norm"),
        ("sentence_embedding", "cosine", "cosine"),
        ("segmentation", "region", "region"),
        ("ctc_head", "sequence", "sequence"),
        ("detection_head", "detection", "detection"),
        ("vit_unranked", "2", "class"),
    ],
)
def test_target_accepts_each_form(
    models: dict[str, str], tmp_path: Path, name: str, target: str, target_kind: str
) -> None:
    assert explain(models[name], tmp_path / "a", "--target", target) == 0
    data = result_of(tmp_path / "a")
    section = data["explanations"]
    assert section["status"] == "ok" and section["target_kind"] == target_kind
    assert data["config"]["target"] == (int(target) if target.isdigit() else target)


@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("sentence_embedding", "region", "--target region needs a dense map"),
        ("ctc_head", "2", "--target 2 indexes a (batch, classes) output"),
        ("vit_unranked", "centroid", "--target must be a non-negative output index, got "),
    ],
)
def test_a_target_the_output_cannot_take_is_a_usage_error(
    models: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    target: str,
    message: str,
) -> None:
    assert explain(models[name], tmp_path / "a", "--target", target) == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def vit_attention(models: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("vit") / "audit"
    assert audit(models["vit_unranked"], out, "--skip", "explanations") == 0
    return result_of(out)["attention"]


def test_the_vit_attention_layers_are_found_from_observed_ranks(vit_attention: Any) -> None:
    section = vit_attention
    assert section["status"] == "ok"
    assert [(layer["name"], layer["heads"]) for layer in section["layers"]] == [
        ("l0_attention", heads.VIT_HEADS), ("l1_attention", heads.VIT_HEADS)
    ]  # fmt: skip
    for layer in section["layers"]:
        assert layer["verification"]["rows_sum_to_one"] and layer["verification"]["shape_ok"]
        assert layer["query_tokens"] == layer["key_tokens"] == heads.VIT_PATCHES
    found = [c for c in section["candidates"] if c["verdict"] == "found"]
    assert [c["name"] for c in found] == ["l0_attention", "l1_attention"]
    assert all("axis 3 of a rank-4 input, its rank observed by onnxruntime" in c["reason"]
               for c in found)  # fmt: skip


def test_a_rejected_softmax_says_why(vit_attention: Any) -> None:
    (rejected,) = [c for c in vit_attention["candidates"] if c["verdict"] == "rejected"]
    assert rejected["name"] == "probs"
    assert rejected["reason"] == (
        "its scores come from MatMul 'head_mm' with a constant operand: a projection by "
        "weights, not queries times keys"
    )


def test_heads_are_ablated_on_several_samples_on_the_explanations_target(
    vit_attention: Any,
) -> None:
    ablation = vit_attention["ablation"]
    assert ablation["samples"] == BUDGETS["quick"].ablation_samples > 1
    assert ablation["target_kind"] == "predicted"
    assert ablation["target"] == "output 'logits': the predicted class (argmax) per sample"
    assert ablation["unablated_max_abs_diff"] == 0.0
    assert len(ablation["heads"]) == heads.VIT_LAYERS * heads.VIT_HEADS
    assert "redundant heads" not in vit_attention["not_done"]


def test_ablation_follows_target(models: dict[str, str], tmp_path: Path) -> None:
    assert audit(models["vit_unranked"], tmp_path / "a", "--skip", "explanations",
                 "--target", "norm") == 0  # fmt: skip
    ablation = result_of(tmp_path / "a")["attention"]["ablation"]
    assert ablation["target_kind"] == "norm"
    assert ablation["target"].startswith("output 'logits': the embedding's L2 norm per sample")


def test_redundancy_is_not_claimed_from_one_sample(models: dict[str, str], tmp_path: Path) -> None:
    one = tmp_path / "one.npy"
    shape = (1, 3, heads.IMAGE_SIZE, heads.IMAGE_SIZE)
    np.save(one, np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    out = tmp_path / "a"
    assert audit(models["vit_unranked"], out, "--skip", "explanations", "--data", str(one)) == 0
    section = result_of(out)["attention"]
    ablation = section["ablation"]
    assert ablation["samples"] == 1
    assert all(h["flag"] != "redundant" for h in ablation["heads"])
    why = section["not_done"]["redundant heads"]
    assert why.startswith("not claimed: heads were ablated on 1 sample")
    assert "2 or more are needed" in why
