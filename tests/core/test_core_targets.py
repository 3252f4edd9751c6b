"""--target's forms, from flags and from TOML, and the result fields that record the target:
written, read back, and absent from results written before them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.core.attention import AttentionSection, SiteCandidate
from harness.core.config import parse_target, resolve_config, settings_from_flags
from harness.core.errors import UsageError
from harness.core.explanations import ExplanationsSection
from harness.core.result import AuditResult
from harness.core.targets import TARGET_FORMS, TARGET_KINDS
from tests.core.test_core_result import make_result


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("3", 3), (" 0 ", 0), *((form, form) for form in TARGET_FORMS)],
)
def test_flag_text_is_an_index_or_a_form(text: str, parsed: int | str) -> None:
    assert settings_from_flags(target=text) == {"target": parsed}


@pytest.mark.parametrize("value", ["-2", "argmax", "Region", "1.5"])
def test_anything_else_is_a_usage_error_naming_the_forms(value: str) -> None:
    with pytest.raises(UsageError, match="or name a target: predicted, norm, cosine"):
        settings_from_flags(target=value)


def test_toml_takes_an_index_or_a_form_but_not_a_quoted_index(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('target = "cosine"\n')
    assert resolve_config("m.onnx", {}, config, tmp_path).target == "cosine"
    config.write_text("target = 4\n")
    assert resolve_config("m.onnx", {}, config, tmp_path).target == 4
    config.write_text('target = "4"\n')
    with pytest.raises(UsageError, match="got '4'"):
        resolve_config("m.onnx", {}, config, tmp_path)


def test_every_form_is_a_target_kind() -> None:
    assert set(TARGET_FORMS) <= set(TARGET_KINDS)
    assert parse_target("region") == "region" and parse_target(0) == 0
    with pytest.raises(UsageError):
        parse_target(True)


def test_target_fields_round_trip_and_older_results_read_without_them() -> None:
    result = make_result()
    recorded = replace(
        result,
        config=replace(result.config, target="region"),
        explanations=ExplanationsSection(
            status="skipped", reason="x", target_kind="region", output_kind="dense map"
        ),
        attention=AttentionSection(
            status="skipped",
            reason="no attention found (1 Softmax node rejected: see candidates)",
            candidates=(SiteCandidate("probs", "rejected", "a projection"),),
        ),
    )
    data = json.loads(recorded.to_json())
    assert AuditResult.from_dict(data) == recorded
    for section, key in (("explanations", "target_kind"), ("explanations", "output_kind")):
        del data[section][key]
    del data["attention"]["candidates"]
    older = AuditResult.from_dict(data)
    assert older.explanations.target_kind is None and older.attention.candidates == ()
