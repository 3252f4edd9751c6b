"""The attention section in result.json: closed in the schema, every field round-trips."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from harness.core import attention
from harness.core.attention import (
    Ablation,
    AttentionLayer,
    AttentionSection,
    DisplayMaps,
    GroundTruth,
    HeadImportance,
    HeadStats,
    LayerTruth,
    LayerVerification,
    Rollout,
)
from harness.core.result import AuditResult
from tests.core.schema_checks import (
    assert_closed_defs,
    assert_result_points_at_def,
    dataclass_names,
    result_validator,
    set_path,
)
from tests.core.test_core_result import make_result

_DATACLASSES = dataclass_names(attention)


def _verification(padding: float | None = 0.0) -> LayerVerification:
    return LayerVerification(
        shape_ok=True,
        max_row_sum_error=2e-7,
        rows_sum_to_one=True,
        max_padding_weight=padding,
        padding_attended=padding is not None and padding > attention.PADDING_TOLERANCE,
        recompute="match",
        recompute_scale="1/sqrt(d_k)",
        recompute_max_abs_diff=1.7e-7,
    )


def _layer(index: int, name: str, padding: float | None = 0.0) -> AttentionLayer:
    return AttentionLayer(
        index=index,
        name=name,
        kind="onnx softmax",
        heads=2,
        query_tokens=3,
        key_tokens=3,
        captured_shape=(4, 2, 3, 3),
        verification=_verification(padding),
        head_stats=(
            HeadStats(0, 0.42, 1.1, 0.3, 0.25, 0.97),
            HeadStats(1, 0.91, 0.8, 0.1, None, None),
        ),
    )


def _maps(value: float) -> tuple[tuple[tuple[tuple[float, ...], ...], ...], ...]:
    rows = ((value, 1 - value, 0.0), (0.5, 0.5, 0.0), (0.2, 0.3, 0.5))
    return ((rows, rows), (rows, rows))


def full_section(layer_name: str = "/layers.0/attention/softmax/Softmax") -> AttentionSection:
    """Every field populated: two layers of two heads, two display samples (one cut)."""
    return AttentionSection(
        status="ok",
        reason=None,
        budget="quick",
        backend="onnxruntime",
        method="attention Softmax outputs promoted to graph outputs",
        samples=4,
        sequence_tokens=3,
        padding_input="attention_mask",
        layers=(_layer(0, layer_name), _layer(1, "/layers.1/Softmax", padding=0.3)),
        fused_ops=("com.microsoft.Attention ×1",),
        rollout=Rollout("0.5·A + 0.5·I", "mean over the real query positions", (0, 1)),
        ground_truth=GroundTruth(
            task="trigger_tokens",
            samples=3,
            score="attention received",
            layers=(LayerTruth(0, 1.0, 1.0), LayerTruth(1, 0.97, None)),
        ),
        ablation=Ablation(
            method="a Mul by a head mask",
            target="predicted-class logit of output 'logits'",
            samples=4,
            baseline_score=8.1,
            unablated_max_abs_diff=0.0,
            tolerance=0.081,
            dominant_share=0.5,
            heads=(
                HeadImportance(0, 0, 0.8, 0.2, "dominant"),
                HeadImportance(0, 1, 0.01, 0.01, "redundant"),
                HeadImportance(1, 0, -0.2, 0.1, None),
                HeadImportance(1, 1, 0.3, 0.1, None),
            ),
        ),
        display=(
            DisplayMaps(
                sample=0,
                tokens=("0:18", "1:1", "2:36"),
                total_tokens=3,
                truncated=False,
                truth=(False, True, False),
                rollout=(0.2, 0.5, 0.3),
                maps=_maps(0.7),
            ),
            DisplayMaps(
                sample=2,
                tokens=("0:5", "1:2", "2:9"),
                total_tokens=80,
                truncated=True,
                truth=None,
                rollout=None,
                maps=_maps(0.1),
            ),
        ),
        not_done={"samples": "captured 4 of 8 samples"},
    )


def _result() -> AuditResult:
    return replace(make_result(), attention=full_section())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return result_validator()


def test_a_full_attention_section_validates(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(_result().to_dict())


def test_a_full_attention_section_round_trips() -> None:
    result = _result()
    back = AuditResult.from_json(result.to_json())
    assert back == result
    assert back.attention.display[0].maps[0][1][0] == (0.7, 1 - 0.7, 0.0)


@pytest.mark.parametrize("status", ["skipped", "failed"])
def test_a_bare_section_validates(validator: jsonschema.Draft202012Validator, status: str) -> None:
    section = AttentionSection(status, "no attention found")  # type: ignore[arg-type]
    validator.validate(replace(make_result(), attention=section).to_dict())


def test_every_attention_dataclass_has_a_closed_def_with_its_fields() -> None:
    """Each dataclass of harness.core.attention is a $def of the same name that lists
    exactly its fields, requires them all, and spells its Literal fields as enums."""
    assert _DATACLASSES
    assert_closed_defs(attention, _DATACLASSES)


def test_the_result_points_attention_at_its_def() -> None:
    assert_result_points_at_def(_result().to_dict(), "attention", "AttentionSection")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("heads",), 4),  # the section is closed
        (("backend",), "tensorflow"),
        (("samples",), -1),
        (("layers", 0, "verification", "recompute"), "maybe"),
        (("layers", 0, "head_stats", 0, "entropy"), 1.5),
        (("layers", 0, "head_stats", 0, "colour"), "blue"),
        (("layers", 0, "captured_shape"), [4, "heads"]),
        (("ground_truth", "layers", 0, "attention_auroc"), -0.1),
        (("ablation", "heads", 0, "flag"), "vital"),
        (("display", 0, "maps", 0, 0, 0), [0.5, "x"]),
        (("display", 0, "truth"), [1, 0, 0]),
        (("not_done", "ablation"), None),
    ],
)
def test_schema_rejects_a_bad_attention_value(
    validator: jsonschema.Draft202012Validator, path: tuple[Any, ...], value: Any
) -> None:
    data = _result().to_dict()
    set_path(data["attention"], path, value)
    assert not validator.is_valid(data)


def test_schema_rejects_a_missing_attention_field(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = _result().to_dict()
    del data["attention"]["layers"][0]["verification"]["recompute_scale"]
    assert not validator.is_valid(data)
