"""The explanations stage on the zoo's known-answer tasks: the planted patch and the
trigger tokens carry ground-truth masks, so faithful methods must find them, and
randomising the model must break them (MPRT), through every backend."""

from __future__ import annotations

import functools

import jsonschema
import pytest
import torch

from harness.core.config import AuditConfig
from harness.core.explanations import ExplanationsSection, MethodResult
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.pipeline import run_audit

METRICS = {
    "infidelity",
    "max_sensitivity",
    "faithfulness_correlation",
    "deletion_auc",
    "insertion_auc",
    "completeness",
    "sparseness",
    "complexity",
    "mprt",
}
MARGIN = 0.2  # over the random baseline's ground-truth AUROC

# (model, budget, methods, the backend each method must run on). The transformer's
# residual stream survives its top three layers' randomisation, so its cascade must go
# deeper than quick's three steps: standard goes six.
CASES = {
    "cnn_patch.onnx": (
        "models/zoo/cnn_patch.onnx",
        "quick",
        {"integrated_gradients": "twin", "occlusion": "onnxruntime"},
    ),
    "ref:cnn_patch": (
        "ref:cnn_patch",
        "quick",
        {"integrated_gradients": "torch", "occlusion": "torch"},
    ),
    "transformer_trigger.onnx": (
        "models/zoo/transformer_trigger.onnx",
        "standard",
        {"layer_integrated_gradients": "twin", "occlusion": "onnxruntime"},
    ),
    "ref:transformer": (
        "ref:transformer",
        "standard",
        {"layer_integrated_gradients": "torch", "occlusion": "torch"},
    ),
}


@functools.cache
def audited(case: str) -> AuditResult:
    model, budget, methods = CASES[case]
    torch.set_num_threads(1)
    config = AuditConfig(
        model=model,
        budget=budget,  # type: ignore[arg-type]
        explainers=tuple(methods),
        skip=("efficiency", "attention"),
        threads=1,
    )
    return run_audit(config)


def section(case: str) -> ExplanationsSection:
    result = audited(case)
    assert result.explanations.status == "ok", result.explanations.reason
    return result.explanations


def method(case: str, name: str) -> MethodResult:
    found = {m.name: m for m in section(case).methods}
    assert found[name].status == "ok", found[name].reason
    return found[name]


@pytest.mark.parametrize("case", CASES)
def test_faithful_methods_find_the_ground_truth_far_above_chance(case: str) -> None:
    random = section(case).random_baseline
    assert random is not None and random.ground_truth is not None
    chance = random.ground_truth.auroc
    assert chance is not None and 0.3 < chance < 0.75
    for name, backend in CASES[case][2].items():
        found = method(case, name)
        assert found.backend == backend
        truth = found.ground_truth
        assert truth is not None and truth.auroc is not None and truth.samples >= 3
        assert truth.auroc >= chance + MARGIN, (name, truth.auroc, chance)


@pytest.mark.parametrize("case", CASES)
def test_randomising_the_model_breaks_the_attributions(case: str) -> None:
    for name in CASES[case][2]:
        sanity = method(case, name).sanity
        assert sanity is not None
        assert sanity.passed, (name, sanity.correlations)
        assert len(sanity.layers) == len(sanity.correlations) >= 3
        assert sanity.layers_total is not None and sanity.layers_total >= len(sanity.layers)


@pytest.mark.parametrize("case", ["cnn_patch.onnx", "transformer_trigger.onnx"])
def test_every_metric_is_scored_or_says_why_not(case: str) -> None:
    for found in (*section(case).methods, section(case).random_baseline):
        assert found is not None
        names = {m.name for m in found.metrics}
        assert names >= METRICS
        for metric in found.metrics:
            if metric.value is None:
                assert {"skipped", "failed"} & set(metric.parameters), metric
                assert "failed" not in metric.parameters, metric
        assert {c.name for c in found.curves} == {"deletion", "insertion"}


def test_images_state_their_metric_parameters_and_shown_maps() -> None:
    s = section("cnn_patch.onnx")
    assert s.modality == "image" and s.attributed_input == "pixels" and s.samples == 4
    assert s.target == "output 'logits': the predicted class (argmax) per sample"
    assert s.conversion is not None and s.conversion.status == "converted"
    ig = method("cnn_patch.onnx", "integrated_gradients")
    scores = {m.name: m for m in ig.metrics}
    assert scores["max_sensitivity"].parameters["radius"] > 0
    assert scores["completeness"].value is not None and scores["completeness"].value < 0.5
    assert ig.parameters["n_steps"] == 16
    assert len(ig.attributions) == 4 and ig.attributions[0].shape == (28, 28)
    assert len(s.inputs) == 4 and s.inputs[0].label is not None and any(s.inputs[0].truth)
    assert s.agreement is not None and s.agreement.methods == ("integrated_gradients", "occlusion")


def test_token_models_skip_the_noise_metrics_and_use_the_pad_token() -> None:
    s = section("transformer_trigger.onnx")
    assert s.modality == "tokens" and s.baseline == "pad token id 0 everywhere"
    lig = method("transformer_trigger.onnx", "layer_integrated_gradients")
    scores = {m.name: m for m in lig.metrics}
    assert "embedding" in scores["infidelity"].parameters["skipped"]
    assert scores["max_sensitivity"].value is None
    assert lig.attributions[0].shape == (32,)


def test_the_onnx_file_and_its_module_agree() -> None:
    onnx_ig = method("cnn_patch.onnx", "integrated_gradients").ground_truth
    ref_ig = method("ref:cnn_patch", "integrated_gradients").ground_truth
    assert onnx_ig is not None and ref_ig is not None
    assert onnx_ig.auroc == pytest.approx(ref_ig.auroc, abs=1e-3)


@pytest.mark.parametrize("case", ["cnn_patch.onnx", "ref:transformer"])
def test_the_result_is_schema_valid_and_round_trips(case: str) -> None:
    result = audited(case)
    data = result.to_dict()
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)
    assert AuditResult.from_json(result.to_json()) == result
