"""The explanations section in result.json: closed in the schema, every field round-trips."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from harness.core import explanations, twin
from harness.core.explanations import (
    Agreement,
    Curve,
    ExplanationsSection,
    GroundTruthScore,
    MethodResult,
    MetricScore,
    SampleAttribution,
    SampleInput,
    SanityCheck,
)
from harness.core.result import AuditResult
from harness.core.twin import ConversionReport, OutputParity, ParityCheck, PreparationStep
from tests.core.schema_checks import (
    assert_closed_defs,
    assert_result_points_at_def,
    result_validator,
    set_path,
)
from tests.core.test_core_result import make_result


def full_section() -> ExplanationsSection:
    """Every field populated: an ok method with all parts, a skipped and a failed one."""
    ok = MethodResult(
        name="integrated_gradients",
        status="ok",
        backend="twin",
        parameters={"n_steps": 16, "method": "gausslegendre", "noise": 0.1},
        seconds=0.12,
        metrics=(
            MetricScore("infidelity", 0.02, False, {"noise_std": 0.1}, (0.01, None, 0.03)),
            MetricScore("max_sensitivity", None, False, {"skipped": "token ids"}),
        ),
        curves=(Curve("deletion", (0.0, 0.5, 1.0), (1.0, 0.3, 0.1), 0.42),),
        sanity=SanityCheck(
            layers=("classifier", "features.3"),
            correlations=(0.3, None),
            final_correlation=None,
            threshold=0.5,
            passed=False,
            layers_total=4,
            absolute=False,
        ),
        ground_truth=GroundTruthScore(auroc=0.97, top_k_precision=None, samples=3),
        attributions=(SampleAttribution(0, 2, (2, 2), (0.1, 0.2, 0.3, 0.4), (1, 2, 2)),),
    )
    return ExplanationsSection(
        status="ok",
        reason=None,
        modality="image",
        samples=4,
        target="output 'logits': the predicted class (argmax) per sample",
        baseline="zeros (a black image)",
        batching={"internal_batch_size": 64, "perturbations_per_eval": 16},
        conversion=ConversionReport(
            status="converted",
            reason=None,
            rtol=1e-3,
            atol=1e-5,
            blocking_ops=("ai.onnx.LSTM-14",),
            first_blocking_node="/lstm/LSTM",
            steps=(PreparationStep("fold_constants", "folded 2 nodes", 2),),
            parity=(
                ParityCheck(
                    {"pixels": (4, 1, 28, 28)}, (OutputParity("logits", 1e-6, 2e-6, True),)
                ),
            ),
            custom_converters=("Gelu-20",),
        ),
        methods=(
            ok,
            MethodResult("saliency", "skipped", reason="needs gradients: LSTM-14"),
            MethodResult("occlusion", "failed", reason="boom", backend="onnxruntime"),
        ),
        random_baseline=replace(ok, name="random", backend="none", sanity=None),
        agreement=Agreement(("a", "b"), ((1.0, None), (None, 1.0)), ((1.0, 0.5), (0.5, 1.0)), 0.1),
        attributed_input="pixels",
        inputs=(SampleInput(0, (2, 2), (0.0, 1.0, 0.5, 0.5), (1, 2, 2), 3, (0.0, 1.0, 0.0, 0.0)),),
        notes=("samples: test samples 0-3 of task 'planted_patch'",),
    )


def _result() -> AuditResult:
    return replace(make_result(), explanations=full_section())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return result_validator()


def test_a_full_explanations_section_validates(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(_result().to_dict())


def test_a_full_explanations_section_round_trips() -> None:
    result = _result()
    back = AuditResult.from_json(result.to_json())
    assert back == result
    assert back.explanations.methods[0].metrics[0].per_sample == (0.01, None, 0.03)


def test_a_skipped_section_validates(validator: jsonschema.Draft202012Validator) -> None:
    section = ExplanationsSection("skipped", "--skip explanations")
    validator.validate(replace(make_result(), explanations=section).to_dict())


@pytest.mark.parametrize("module", [explanations, twin], ids=["explanations", "twin"])
def test_every_dataclass_has_a_closed_def_with_its_fields(module: Any) -> None:
    """Each dataclass of the section's modules is a $def of the same name that lists
    exactly its fields, requires them all, and spells its Literal fields as enums."""
    assert_closed_defs(module)


def test_the_result_points_explanations_at_its_def() -> None:
    assert_result_points_at_def(_result().to_dict(), "explanations", "ExplanationsSection")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("extra",), 1),
        (("modality",), "audio"),
        (("methods", 0, "status"), "maybe"),
        (("methods", 0, "backend"), "tensorflow"),
        (("methods", 0, "metrics", 0, "value"), "good"),
        (("methods", 0, "metrics", 0, "colour"), "blue"),
        (("methods", 0, "parameters", "n_steps"), [16]),
        (("methods", 0, "curves", 0, "name"), "sideways"),
        (("methods", 0, "ground_truth", "auroc"), 1.5),
        (("methods", 0, "sanity", "passed"), "yes"),
        (("conversion", "status"), "maybe"),
        (("conversion", "parity", 0, "outputs", 0, "max_abs"), -1.0),
        (("batching", "internal_batch_size"), 1.5),
        (("inputs", 0, "truth", 1), 2.0),
    ],
)
def test_schema_rejects_a_bad_explanations_value(
    validator: jsonschema.Draft202012Validator, path: tuple[Any, ...], value: Any
) -> None:
    data = _result().to_dict()
    set_path(data["explanations"], path, value)
    assert not validator.is_valid(data)


def test_schema_rejects_a_missing_explanations_field(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = _result().to_dict()
    del data["explanations"]["methods"][0]["sanity"]
    assert not validator.is_valid(data)
