"""Reading a result validates it: tokens the harness never writes, values outside the
schema's bounds, counts that disagree, hostile nesting, numbers and strings, oversized
files. Each is a one-line ``ResultFormatError`` naming the JSON path at fault."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.core import result as result_module
from harness.core.errors import ExitCode, ResultFormatError
from harness.core.read_limits import (
    MAX_RESULT_BYTES,
    FileTooLargeError,
    human_size,
    read_limited,
)
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.core.schema.validate import (
    SchemaViolation,
    json_path,
    unsupported_keywords,
    validate,
)
from tests.core.test_core_efficiency_schema import full_section as full_efficiency
from tests.core.test_core_explanations_schema import full_section as full_explanations
from tests.core.test_core_result import make_result

LATENCY = "$.efficiency.runs[0].latency"


def full_result() -> AuditResult:
    return replace(make_result(), efficiency=full_efficiency(), explanations=full_explanations())


@pytest.fixture
def data() -> dict[str, Any]:
    """A valid result.json as a dict, every efficiency and explanations part present."""
    return copy.deepcopy(full_result().to_dict())


def refused(text: str) -> str:
    """The message ``from_json`` refuses TEXT with: one printable line."""
    with pytest.raises(ResultFormatError) as info:
        AuditResult.from_json(text)
    message = str(info.value)
    assert "\n" not in message
    message.encode("ascii")  # hostile characters arrive escaped, never raw
    assert info.value.exit_code == ExitCode.USAGE
    return message


def latency(data: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = data["efficiency"]["runs"][0]["latency"]
    return run


def test_a_full_result_reads_back_equal(data: dict[str, Any]) -> None:
    assert AuditResult.from_json(json.dumps(data)) == full_result()


# --- tokens and values the harness never writes -------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_sample_is_refused_by_its_path(data: dict[str, Any], token: str) -> None:
    latency(data)["samples_ms"][1] = "SAMPLE"
    text = json.dumps(data).replace('"SAMPLE"', token)
    message = refused(text)
    assert f"{LATENCY}.samples_ms[1] is " in message
    assert "not a finite number" in message
    assert "re-run the audit" in message


def test_nan_anywhere_is_refused_not_only_in_samples(data: dict[str, Any]) -> None:
    data["inputs"]["tensors"][0]["mean"] = "X"
    message = refused(json.dumps(data).replace('"X"', "NaN"))
    assert "$.inputs.tensors[0].mean is nan" in message


def test_all_nan_samples_are_refused(data: dict[str, Any]) -> None:
    """The fuzzing case: every sample NaN gave `+nan%` and `gate: PASS`."""
    latency(data)["samples_ms"] = ["X"] * len(latency(data)["samples_ms"])
    assert f"{LATENCY}.samples_ms[0] is nan" in refused(json.dumps(data).replace('"X"', "NaN"))


def test_a_negative_sample_is_refused(data: dict[str, Any]) -> None:
    latency(data)["samples_ms"][3] = -1.5
    assert f"{LATENCY}.samples_ms[3] is -1.5, below the minimum 0" in refused(json.dumps(data))


def test_a_sample_longer_than_a_day_is_refused(data: dict[str, Any]) -> None:
    """1e300 ms samples are finite, but their mean overflows in the gate's statistics."""
    latency(data)["samples_ms"][0] = 1e300
    assert f"{LATENCY}.samples_ms[0] is 1e+300, above the maximum" in refused(json.dumps(data))


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("efficiency", "runs", 0, "latency", "mean_ms"), -0.1, "below the minimum 0"),
        (("efficiency", "runs", 0, "cold_start", "load_ms"), -3.0, "below the minimum 0"),
        (("efficiency", "runs", 0, "memory", "inference_peak_bytes"), -1, "below the minimum"),
        (("efficiency", "runs", 0, "roofline", "achieved_gflops"), -1.0, "below the minimum"),
        (
            ("efficiency", "runs", 0, "throughput", "points", 0, "samples_per_s", "value"),
            -830.0,
            "below the minimum 0",
        ),
        (("explanations", "methods", 0, "ground_truth", "auroc"), 1.5, "above the maximum 1"),
        (("explanations", "methods", 0, "curves", 0, "fractions", 1), 2.0, "above the maximum"),
        (("environment", "ram_bytes"), 10**30, "an integer beyond 64 bits"),
        (("model", "sha256"), "xyz", "expected the form"),
        (("efficiency", "runs", 0, "backend"), "tensorflow", "allowed:"),
    ],
    ids=lambda p: ".".join(map(str, p)) if isinstance(p, tuple) else None,
)
def test_an_impossible_value_is_refused_by_its_path(
    data: dict[str, Any], path: tuple[Any, ...], value: Any, says: str
) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    where = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
    message = refused(json.dumps(data))
    assert where in message and says in message


# --- counts and shapes that disagree ------------------------------------------------------


def test_a_latency_count_that_disagrees_with_its_samples_is_refused(
    data: dict[str, Any],
) -> None:
    latency(data)["n"] = 200
    message = refused(json.dumps(data))
    assert f"{LATENCY}.n is 200, but samples_ms holds 4 samples" in message


def test_an_insufficient_estimate_with_a_value_is_refused(data: dict[str, Any]) -> None:
    latency(data)["percentiles_ms"]["p99"]["value"] = 3.0
    assert f"{LATENCY}.percentiles_ms.p99.value is insufficient" in refused(json.dumps(data))


def test_an_interval_upside_down_is_refused(data: dict[str, Any]) -> None:
    estimate = latency(data)["percentiles_ms"]["p50"]
    estimate["ci_low"], estimate["ci_high"] = estimate["ci_high"], estimate["ci_low"]
    assert f"{LATENCY}.percentiles_ms.p50.ci_low" in refused(json.dumps(data))


def test_attributions_that_do_not_fill_their_shape_are_refused(data: dict[str, Any]) -> None:
    data["explanations"]["methods"][0]["attributions"][0]["values"].append(0.5)
    message = refused(json.dumps(data))
    assert "$.explanations.methods[0].attributions[0].values holds 5 numbers" in message
    assert "shape 2x2 needs 4" in message


def test_input_truth_that_does_not_fill_its_shape_is_refused(data: dict[str, Any]) -> None:
    data["explanations"]["inputs"][0]["truth"] = [1.0]
    assert "$.explanations.inputs[0].truth holds 1 numbers" in refused(json.dumps(data))


# --- hostile structure, numbers and strings -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
    ids=["arrays", "objects"],
)
def test_deep_nesting_is_refused_not_a_crash(text: str) -> None:
    assert "nests arrays or objects deeper than JSON parsing allows" in refused(text)


def test_an_integer_of_5000_digits_is_refused(data: dict[str, Any]) -> None:
    data["environment"]["ram_bytes"] = "X"
    message = refused(json.dumps(data).replace('"X"', "9" * 5000))
    assert "4300 digits" in message and "set_int_max_str_digits" not in message


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d["model"].__setitem__("name", "SURROGATE"), "$.model.name"),
        (lambda d: d["model"]["metadata"].__setitem__("SURROGATE", "v"), "$.model.metadata["),
        (lambda d: d["config"]["skip"].append("SURROGATE"), "$.config.skip[1]"),
    ],
    ids=["value", "key", "list-item"],
)
def test_a_lone_surrogate_is_refused(
    data: dict[str, Any], edit: Callable[[dict[str, Any]], None], where: str
) -> None:
    edit(data)
    message = refused(json.dumps(data).replace("SURROGATE", "\\ud800"))
    assert where in message and "lone surrogate (\\ud800)" in message


def test_a_hostile_key_is_cut_and_escaped_in_the_path(data: dict[str, Any]) -> None:
    data["model"]["metadata"]["\u202e" + "k" * 10_000] = 1  # a number where text belongs
    message = refused(json.dumps(data))
    assert '$.model.metadata["\\u202ekkk' in message
    assert len(message) < 400


def test_a_version_1_result_with_a_broken_config_is_refused(data: dict[str, Any]) -> None:
    data["schema_version"], data["config"] = 1, [1, 2]
    assert "$.config is not an object" in refused(json.dumps(data))


# --- files too large ------------------------------------------------------------------------


def test_a_result_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "result.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_RESULT_BYTES + 1)  # sparse: the size is all that is checked
    with pytest.raises(ResultFormatError) as info:
        AuditResult.read(big, "BASE")
    message = str(info.value)
    assert f"BASE '{big}' is 67,108,865 bytes, over the 64.0 MiB limit" in message
    assert human_size(MAX_RESULT_BYTES) == "64.0 MiB"


def test_a_file_without_a_size_is_read_no_further_than_the_limit() -> None:
    """/dev/zero reports size 0 and never ends: the read stops at the limit."""
    with pytest.raises(FileTooLargeError, match=r"more than that, over the 1\.0 KiB limit"):
        read_limited(Path("/dev/zero"), 1024)


def test_a_file_at_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "result.json"
    path.write_text(full_result().to_json())
    monkeypatch.setattr(result_module, "MAX_RESULT_BYTES", path.stat().st_size)
    assert AuditResult.read(path) == full_result()
    monkeypatch.setattr(result_module, "MAX_RESULT_BYTES", path.stat().st_size - 1)
    with pytest.raises(ResultFormatError, match="over the"):
        AuditResult.read(path)


# --- the validator itself -----------------------------------------------------------------


def test_the_validator_understands_every_keyword_the_schema_uses() -> None:
    assert unsupported_keywords(load_result_schema()) == set()


def test_an_unknown_keyword_is_a_bug_not_a_bad_file() -> None:
    with pytest.raises(NotImplementedError, match="patternProperties"):
        validate({}, {"type": "object", "patternProperties": {}})


def test_an_optional_section_names_the_field_inside_it() -> None:
    """anyOf [X, null] given a broken X reports X's field, not 'is not null'."""
    schema = {
        "anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}],
        "$defs": {"X": {"type": "object", "properties": {"a": {"type": "integer"}}}},
    }
    with pytest.raises(SchemaViolation) as info:
        validate({"a": "one"}, schema)
    assert info.value.path == "$.a"


def test_a_long_array_names_the_exact_bad_item() -> None:
    schema = {"type": "array", "items": {"type": "number", "minimum": 0}}
    values: list[Any] = [0.5] * 10_000
    validate(values, schema)
    values[7_654] = -0.5
    with pytest.raises(SchemaViolation) as info:
        validate(values, schema)
    assert info.value.path == "$[7654]"
    values[7_654] = True  # a bool is not a number in JSON Schema
    with pytest.raises(SchemaViolation, match="expected number"):
        validate(values, schema)


def test_json_path_steps() -> None:
    assert json_path("$", "efficiency") == "$.efficiency"
    assert json_path("$.runs", 3) == "$.runs[3]"
    assert json_path("$.opsets", "ai.onnx") == '$.opsets["ai.onnx"]'


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("efficiency", "runs", 0, "latency", "samples_ms", 0), -1.0),
        (("efficiency", "runs", 0, "latency", "samples_ms", 0), 1e9),
        (("efficiency", "runs", 0, "op_profile", "by_op", 0, "share"), -0.1),
        (("explanations", "methods", 0, "ground_truth", "auroc"), 1.01),
        (("config", "skip", 0), "training"),
        (("model", "colour"), "blue"),
        (("efficiency", "runs", 0, "latency", "samples_ms", 0), 2.5),
    ],
)
def test_the_validator_agrees_with_jsonschema(
    data: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    """The plain-Python walker and the reference implementation judge the same edits alike."""
    schema = load_result_schema()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    reference = jsonschema.Draft202012Validator(schema).is_valid(data)
    try:
        validate(data, schema)
        ours = True
    except SchemaViolation:
        ours = False
    assert ours == reference
