"""AuditResult: JSON round trip, the committed schema, reading bad files, migration."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.core import result as result_module
from harness.core.attention import AttentionSection
from harness.core.config import AuditConfig
from harness.core.efficiency import EfficiencySection
from harness.core.errors import ResultFormatError
from harness.core.explanations import ExplanationsSection
from harness.core.model import TensorSpec
from harness.core.privacy import NOT_RUN
from harness.core.result import (
    SCHEMA_VERSION,
    AuditResult,
    Environment,
    FedTensor,
    GpuInfo,
    InputsSection,
    ModelSummary,
    ObservedOutput,
    migrate,
)
from harness.core.schema import RESULT_SCHEMA_PATH, load_result_schema


def make_result() -> AuditResult:
    """A plausible result of a two-input transformer, covering every kind of field."""
    return AuditResult(
        schema_version=SCHEMA_VERSION,
        harness_version="0.1.0",
        created_at="2024-05-01T12:00:00+00:00",
        environment=Environment(
            cpu_model="AMD EPYC 7763 64-Core Processor",
            physical_cores=None,
            logical_cores=2,
            ram_bytes=8 * 1024**3,
            gpus=(GpuInfo(name="NVIDIA H200", memory_bytes=141 * 1024**3),),
            os="Linux-6.1-x86_64",
            python="3.11.7",
            packages={"onnxruntime": "1.18.0", "torch": None},
            onnxruntime_providers=("CPUExecutionProvider",),
            git_commit="cfae0cc",
            git_dirty=True,
        ),
        config=AuditConfig(
            model="models/tiny_bert.onnx",
            out=Path("audit-out"),
            shapes={"input_ids": (1, 16), "sample_rate": ()},
            dtypes={"input_ids": "int64"},
            values={"sample_rate": 16000, "scale": 0.5, "causal": True},
            device="cpu",
            seed=7,
            threads=2,
            budget="quick",
            skip=("attention",),
            sources=("defaults", "file:/repo/pyproject.toml", "flags"),
        ),
        device="cpu",
        model=ModelSummary(
            source="models/tiny_bert.onnx",
            name="tiny_bert",
            format="onnx",
            path="models/tiny_bert.onnx",
            file_bytes=123_456,
            sha256="ab" * 32,
            ir_version=8,
            opsets={"ai.onnx": 17, "com.microsoft": 1},
            producer="pytorch",
            metadata={"author": "tests", "license": "MIT"},
            inputs=(
                TensorSpec("input_ids", "int64", ("batch", "seq"), index_range=1000),
                TensorSpec("attention_mask", "int64", ("batch", None)),
                TensorSpec("sample_rate", "int64", ()),
            ),
            outputs=(TensorSpec("logits", "float32", ("batch", 2)),),
            parameter_count=4_200,
            parameter_bytes=16_800,
            node_count=57,
            op_histogram={"MatMul": 12, "Add": 10, "Softmax": 2},
        ),
        inputs=InputsSection(
            tensors=(
                FedTensor(
                    "input_ids",
                    "int64",
                    (1, 16),
                    "synthetic",
                    "randint(0, 1000), seed 7",
                    min=3.0,
                    max=998.0,
                    mean=501.25,
                ),
                FedTensor(
                    "attention_mask",
                    "int64",
                    (1, 16),
                    "data",
                    "inputs.npz['mask']",
                    min=1.0,
                    max=1.0,
                    mean=1.0,
                ),
                FedTensor(
                    "sample_rate",
                    "int64",
                    (),
                    "value",
                    "--value sample_rate=16000",
                    min=16000.0,
                    max=16000.0,
                    mean=16000.0,
                ),
            ),
            dims={"batch": 1, "seq": 16},
            warnings=("dim 'seq' was not given; used 16",),
            outputs=(ObservedOutput("logits", "float32", (1, 2), min=-0.5, max=0.75, mean=0.125),),
        ),
        efficiency=EfficiencySection("ok"),
        explanations=ExplanationsSection("failed", reason="onnx2torch lacks op 'Trilu'"),
        attention=AttentionSection("skipped", reason="--skip attention"),
    )


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_result_schema())


def assert_rejected(validator: jsonschema.Draft202012Validator, data: dict[str, Any]) -> None:
    assert not validator.is_valid(data)


# --- round trip -----------------------------------------------------------------------


def test_json_round_trip_gives_an_equal_result() -> None:
    result = make_result()
    assert AuditResult.from_json(result.to_json()) == result


def test_round_trip_keeps_types_that_json_does_not_have() -> None:
    back = AuditResult.from_json(make_result().to_json())
    assert back.config.out == Path("audit-out")
    assert back.config.shapes["input_ids"] == (1, 16)
    assert back.model.inputs[1].shape == ("batch", None)
    assert back.config.values["causal"] is True
    assert isinstance(back.config.values["sample_rate"], int)


def test_to_dict_is_plain_json_in_field_order() -> None:
    data = make_result().to_dict()
    assert list(data)[:3] == ["schema_version", "harness_version", "created_at"]
    assert data["config"]["out"] == "audit-out"
    assert data["config"]["skip"] == ["attention"]
    assert data["model"]["inputs"][0]["shape"] == ["batch", "seq"]
    assert json.loads(json.dumps(data)) == data


def test_default_stage_sections_are_skipped() -> None:
    result = make_result()
    bare = AuditResult(
        schema_version=SCHEMA_VERSION,
        harness_version=result.harness_version,
        created_at=result.created_at,
        environment=result.environment,
        config=result.config,
        device=result.device,
        model=result.model,
        inputs=result.inputs,
    )
    for name in result_module.STAGE_NAMES:
        section = bare.stage(name)
        # privacy: results written before it existed read as not run, with that reason.
        reason = NOT_RUN if name == "privacy" else None
        assert (section.status, section.reason) == ("skipped", reason)
        assert isinstance(section, result_module.SECTION_TYPES[name])
    assert AuditResult.from_json(bare.to_json()) == bare


def test_to_json_refuses_nan() -> None:
    result = make_result()
    bad_output = replace(result.inputs.outputs[0], mean=float("nan"))
    bad = replace(result, inputs=replace(result.inputs, outputs=(bad_output,)))
    with pytest.raises(ValueError):
        bad.to_json()


# --- schema ---------------------------------------------------------------------------


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_result_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert json.loads(RESULT_SCHEMA_PATH.read_text(encoding="utf-8")) == schema


def test_result_validates_against_schema(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(make_result().to_dict())


def test_schema_requires_every_dataclass_field(validator: jsonschema.Draft202012Validator) -> None:
    """The schema's closed objects list exactly the fields ``to_dict`` writes."""
    schema = load_result_schema()
    data = make_result().to_dict()
    pairs = [
        (schema, data),
        (schema["$defs"]["Environment"], data["environment"]),
        (schema["$defs"]["AuditConfig"], data["config"]),
        (schema["$defs"]["ModelSummary"], data["model"]),
        (schema["$defs"]["InputsSection"], data["inputs"]),
        (schema["$defs"]["TensorSpec"], data["model"]["inputs"][0]),
        (schema["$defs"]["FedTensor"], data["inputs"]["tensors"][0]),
        (schema["$defs"]["ObservedOutput"], data["inputs"]["outputs"][0]),
        (schema["$defs"]["GpuInfo"], data["environment"]["gpus"][0]),
    ]
    # Added within schema version 2, so results written before them lack them: optional.
    optional = {
        "notes", "max_input_bytes", "verdict", "fail_on", "stage_seconds", "privacy",
        "members", "nonmembers",
    }  # fmt: skip
    for sub_schema, sub_data in pairs:
        assert sub_schema["additionalProperties"] is False
        assert sorted(sub_schema["required"]) == sorted(set(sub_data) - optional)
        assert sorted(sub_schema["properties"]) == sorted(sub_data)


def test_schema_rejects_an_extra_top_level_field(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = make_result().to_dict()
    data["extra"] = 1
    assert_rejected(validator, data)


def test_schema_rejects_a_wrong_stage_status(validator: jsonschema.Draft202012Validator) -> None:
    data = make_result().to_dict()
    data["efficiency"]["status"] = "done"
    assert_rejected(validator, data)


def test_schema_rejects_a_missing_model_field(validator: jsonschema.Draft202012Validator) -> None:
    data = make_result().to_dict()
    del data["model"]["sha256"]
    assert_rejected(validator, data)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("model", "format", "tflite"),
        ("config", "budget", "forever"),
        ("config", "device", "tpu"),
        ("config", "seed", 1.5),
        ("device", None, "auto"),
        ("environment", "logical_cores", "2"),
    ],
)
def test_schema_rejects_bad_values(
    validator: jsonschema.Draft202012Validator, section: str, key: str | None, value: Any
) -> None:
    data = make_result().to_dict()
    if key is None:
        data[section] = value
    else:
        data[section][key] = value
    assert_rejected(validator, data)


def test_schema_rejects_a_wrong_schema_version(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = make_result().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    assert_rejected(validator, data)


def test_schema_rejects_a_bad_dim_and_a_bad_tensor_source(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = make_result().to_dict()
    data["model"]["inputs"][0]["shape"] = [1.5, "seq"]
    assert_rejected(validator, data)
    data = make_result().to_dict()
    data["inputs"]["tensors"][0]["source"] = "random"
    assert_rejected(validator, data)


def test_schema_closes_the_stage_sections(validator: jsonschema.Draft202012Validator) -> None:
    data = make_result().to_dict()
    data["explanations"]["latency_ms"] = {"p50": 1.2}
    assert_rejected(validator, data)
    data = make_result().to_dict()
    data["model"]["latency_ms"] = 1.2
    assert_rejected(validator, data)


# --- reading bad files ----------------------------------------------------------------


def _valid_dict() -> dict[str, Any]:
    return copy.deepcopy(make_result().to_dict())


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON: .*; pass the result.json an audit wrote"),
        ("[1, 2]", "must be an object, got list; pass the result.json"),
        (
            json.dumps({k: v for k, v in _valid_dict().items() if k != "schema_version"}),
            "not written by this harness",
        ),
        (
            json.dumps({**_valid_dict(), "schema_version": SCHEMA_VERSION + 1}),
            "newer than this harness reads .*; upgrade model-audit-harness",
        ),
        (json.dumps({**_valid_dict(), "schema_version": "1"}), "no integer schema_version"),
        (json.dumps({**_valid_dict(), "schema_version": True}), "no integer schema_version"),
    ],
    ids=["not-json", "list", "no-version", "newer-version", "string-version", "bool-version"],
)
def test_from_json_rejects_unreadable_results(text: str, says: str) -> None:
    with pytest.raises(ResultFormatError, match=says):
        AuditResult.from_json(text)


def test_from_json_rejects_a_wrong_field_type_and_says_what_to_do() -> None:
    data = _valid_dict()
    data["environment"]["logical_cores"] = "two"
    with pytest.raises(ResultFormatError) as info:
        AuditResult.from_json(json.dumps(data))
    message = str(info.value)
    assert "$.environment.logical_cores" in message
    assert "re-run the audit" in message


def test_from_json_rejects_an_unknown_field() -> None:
    data = _valid_dict()
    data["model"]["colour"] = "blue"
    with pytest.raises(ResultFormatError, match="colour"):
        AuditResult.from_json(json.dumps(data))


def test_from_json_rejects_a_missing_field() -> None:
    data = _valid_dict()
    del data["model"]["name"]
    with pytest.raises(ResultFormatError, match="missing field 'name'"):
        AuditResult.from_json(json.dumps(data))


def test_from_json_rejects_an_out_of_range_literal() -> None:
    data = _valid_dict()
    data["attention"]["status"] = "maybe"
    with pytest.raises(ResultFormatError, match=r"\$\.attention\.status"):
        AuditResult.from_json(json.dumps(data))


# --- migration ------------------------------------------------------------------------


def test_migrate_upgrades_through_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-0 file whose config had ``cfg`` for ``config`` is renamed by the step."""
    current = make_result()
    old = current.to_dict()
    old["cfg"] = old.pop("config")
    old["schema_version"] = SCHEMA_VERSION - 1
    seen: list[int] = []

    def rename_cfg(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(data["schema_version"])
        data = dict(data)
        data["config"] = data.pop("cfg")
        return data

    monkeypatch.setattr(result_module, "_MIGRATIONS", {SCHEMA_VERSION - 1: rename_cfg})
    assert AuditResult.from_dict(old) == current
    assert seen == [SCHEMA_VERSION - 1]


def test_migrate_chains_steps_and_stamps_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def step(tag: str) -> Any:
        return lambda data: {**data, "trail": [*data.get("trail", []), tag]}

    monkeypatch.setattr(result_module, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(
        result_module, "_MIGRATIONS", {0: step("0->1"), 1: step("1->2"), 2: step("2->3")}
    )
    upgraded = migrate({"schema_version": 1})
    assert upgraded == {"schema_version": 3, "trail": ["1->2", "2->3"]}


def test_migrate_without_a_step_says_to_re_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_module, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(result_module, "_MIGRATIONS", {})
    with pytest.raises(ResultFormatError, match="no upgrade from schema_version 1; re-run"):
        migrate({"schema_version": 1})


def test_migrate_leaves_a_current_result_alone() -> None:
    data = _valid_dict()
    assert migrate(copy.deepcopy(data)) == data


# --- stages ---------------------------------------------------------------------------


def test_stage_returns_the_named_section() -> None:
    result = make_result()
    assert result.stage("efficiency") == EfficiencySection("ok")
    assert result.stage("attention").reason == "--skip attention"


def test_stage_rejects_a_name_that_is_not_a_stage() -> None:
    with pytest.raises(KeyError):
        make_result().stage("model")


def test_failed_stages_lists_failures_in_pipeline_order() -> None:
    result = make_result()
    assert result.failed_stages() == ("explanations",)
    all_failed = replace(
        result,
        efficiency=EfficiencySection("failed", "out of memory"),
        attention=AttentionSection("failed", "no Softmax nodes"),
    )
    assert all_failed.failed_stages() == ("efficiency", "explanations", "attention")
    none_failed = replace(result, explanations=ExplanationsSection("ok"))
    assert none_failed.failed_stages() == ()
