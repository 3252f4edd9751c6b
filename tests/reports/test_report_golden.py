"""Reports rendered from golden result files: every section in its ok, skipped and failed
states, a result of schema version 1 upgraded by ``migrate()``, and re-rendering through
``harness report`` (optionally judged by other thresholds). See golden/make_golden.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
from markupsafe import escape

from harness.cli import main
from harness.core.result import SCHEMA_VERSION, STAGE_NAMES, AuditResult
from harness.core.schema import load_result_schema
from harness.core.thresholds import FindingThresholds
from harness.reports import render_report
from harness.reports.findings import findings

GOLDEN = Path(__file__).parent / "golden"
FILES = ("v1_cnn_digits.json", "v2_transformer_trigger.json", "v2_failed_stages.json")


def load(name: str) -> AuditResult:
    return AuditResult.from_json((GOLDEN / name).read_text())


def section_html(html: str, stage: str) -> str:
    start = html.index(f'<section id="stage-{stage}">')
    return html[start : html.index("</section>", start)]


@pytest.fixture(scope="module", params=FILES)
def golden(request: pytest.FixtureRequest) -> tuple[AuditResult, str]:
    result = load(request.param)
    return result, render_report(result)


def test_golden_results_upgrade_to_the_current_schema(golden) -> None:
    result, _ = golden
    data = result.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)


def test_every_stage_section_shows_its_state_and_reason(golden) -> None:
    result, html = golden
    for stage in STAGE_NAMES:
        section = result.stage(stage)
        text = section_html(html, stage)
        assert section.status in text
        if section.reason:
            assert str(escape(section.reason)) in text


def test_golden_files_cover_ok_skipped_and_failed_for_every_stage() -> None:
    states = {stage: {load(name).stage(stage).status for name in FILES} for stage in STAGE_NAMES}
    assert states["efficiency"] >= {"ok", "failed"}
    assert states["explanations"] >= {"ok", "failed"}
    assert states["attention"] == {"ok", "skipped", "failed"}


def test_failed_stages_become_fail_findings() -> None:
    result = load("v2_failed_stages.json")
    failed = {f.where for f in findings(result) if f.severity == "fail"}
    # The stages the file was written with (a later stage reads as not run).
    recorded = json.loads((GOLDEN / "v2_failed_stages.json").read_text())
    assert {f"stage-{stage}" for stage in STAGE_NAMES if stage in recorded} <= failed


def test_version_1_result_has_no_command_and_default_thresholds() -> None:
    raw = json.loads((GOLDEN / "v1_cnn_digits.json").read_text())
    assert raw["schema_version"] == 1 and "command" not in raw
    result = load("v1_cnn_digits.json")
    assert result.command is None
    assert result.config.findings == FindingThresholds()
    assert 'id="command" class="muted"' in render_report(result)


def test_recorded_command_is_shown_for_copying() -> None:
    result = load("v2_transformer_trigger.json")
    assert result.command  # written by the CLI
    html = render_report(result)
    block = re.search(r'<pre id="command"><code>(.*?)</code></pre>', html, re.S)
    assert block is not None and block.group(1) == str(escape(result.command))


@pytest.mark.parametrize("name", FILES)
def test_harness_report_rerenders_the_same_page(tmp_path: Path, name: str) -> None:
    source = tmp_path / "result.json"
    shutil.copy(GOLDEN / name, source)
    assert main(["report", str(source)]) == 0
    assert (tmp_path / "report.html").read_text() == render_report(load(name))


def test_report_config_moves_the_finding_thresholds(tmp_path: Path) -> None:
    source = tmp_path / "result.json"
    shutil.copy(GOLDEN / "v1_cnn_digits.json", source)
    result = load("v1_cnn_digits.json")
    cv = result.efficiency.runs[0].latency.cv
    assert "efficiency.latency_noisy" not in {f.rule for f in findings(result)}
    strict = tmp_path / "strict.toml"
    strict.write_text(f"[tool.harness.findings]\nlatency_cv_max = {cv / 2}\n")
    out = tmp_path / "strict.html"
    assert main(["report", str(source), "-o", str(out), "--config", str(strict)]) == 0
    html = out.read_text()
    assert "efficiency.latency_noisy" in html
    assert f"latency_cv_max={cv / 2:g}" in html or f"latency_cv_max={cv / 2}" in html
    assert "report --config" in html  # the config table says where the lines came from


def test_report_config_with_a_bad_threshold_writes_nothing(tmp_path: Path, capsys) -> None:
    source = tmp_path / "result.json"
    shutil.copy(GOLDEN / "v1_cnn_digits.json", source)
    bad = tmp_path / "bad.toml"
    bad.write_text('[findings]\nlatency_cv_max = "high"\n')
    assert main(["report", str(source), "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "latency_cv_max" in err and "number" in err and "\n" not in err
    assert not (tmp_path / "report.html").exists()
