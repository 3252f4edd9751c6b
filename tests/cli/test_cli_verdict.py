"""One verdict: stored in result.json, printed as the last stderr line (with --quiet too),
shown first in the report, and turned into the exit code by --fail-on. Findings are planted
by adding a rule, so each severity is tested without a model that really produces it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.errors import StageError
from harness.core.result import AuditResult
from harness.reports import findings as findings_module
from harness.reports.findings import Finding
from harness.stages import runner as stages

NOTHING = ["--budget", "quick", "--skip", "efficiency", "--skip", "explanations"]
NOTHING += ["--skip", "attention", "--quiet"]


def plant(monkeypatch: pytest.MonkeyPatch, severity: str | None) -> None:
    """Add a rule that finds one thing of SEVERITY (nothing for None)."""

    def planted(result: AuditResult, t: object) -> Iterator[Finding]:
        if severity is not None:
            yield Finding(severity, "test.planted", f"a planted {severity}", "planted", "inputs")

    monkeypatch.setattr(findings_module, "RULES", (*findings_module.RULES, planted))


def audit(model: Path, out: Path, *flags: str) -> int:
    return main(["audit", str(model), "--out", str(out), *NOTHING, *flags])


@pytest.fixture
def model(shelf) -> Path:
    return shelf.get("tiny_cnn")


def test_the_verdict_is_stored_printed_last_and_shown_first(model, tmp_path, capsys, monkeypatch):
    plant(monkeypatch, "warn")
    out = tmp_path / "audit"
    assert audit(model, out) == 0
    err = capsys.readouterr().err
    # --quiet: the verdict is the only stderr line, and the last.
    assert err.splitlines()[-1] == (
        "verdict: pass with warnings (0 fail, 1 warn): a planted warn"
    ), err
    stored = json.loads((out / "result.json").read_text())["verdict"]
    assert stored["status"] == "pass with warnings"
    assert stored["counts"]["warn"] == 1
    assert stored["deciding"] == [
        {"severity": "warn", "rule": "test.planted", "title": "a planted warn"}
    ]
    # It reads back through the schema, and the page opens with it.
    assert AuditResult.read(out / "result.json").verdict.status == "pass with warnings"
    html = (out / "report.html").read_text()
    assert html.index('id="verdict"') < html.index('id="findings"')


@pytest.mark.parametrize(
    ("severity", "fail_on", "code"),
    [
        ("fail", "fail", 1),
        ("fail", "warn", 1),
        ("fail", "never", 0),
        ("warn", "fail", 0),
        ("warn", "warn", 1),
        ("warn", "never", 0),
        ("info", "warn", 0),
        (None, "warn", 0),
    ],
)
def test_fail_on_decides_the_exit_code(
    model, tmp_path, capsys, monkeypatch, severity, fail_on, code
):
    plant(monkeypatch, severity)
    assert audit(model, tmp_path / "audit", "--fail-on", fail_on) == code
    status = {"fail": "fail", "warn": "pass with warnings"}.get(severity or "", "pass")
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"verdict: {status} (")


def test_fail_on_from_the_config_file(model, tmp_path, capsys, monkeypatch):
    plant(monkeypatch, "warn")
    config = tmp_path / "harness.toml"
    config.write_text('fail_on = "warn"\n')
    assert audit(model, tmp_path / "audit", "--config", str(config)) == 1
    # The flag overrides the file.
    args = ("--config", str(config), "--fail-on", "never", "--force")
    assert audit(model, tmp_path / "audit", *args) == 0


def test_an_unknown_fail_on_is_a_usage_error(model, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        audit(model, tmp_path / "audit", "--fail-on", "sometimes")
    assert exited.value.code == 2
    assert "--fail-on" in capsys.readouterr().err
    config = tmp_path / "harness.toml"
    config.write_text('fail_on = "sometimes"\n')
    assert audit(model, tmp_path / "audit", "--config", str(config)) == 2
    assert "--fail-on 'sometimes' is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize("fail_on", ["fail", "never"])
def test_a_failed_stage_is_incomplete_and_exits_1_under_every_fail_on(
    model, tmp_path, capsys, monkeypatch, fail_on
):
    def failing(context: object) -> None:
        raise StageError("planted: the stage could not finish")

    monkeypatch.setitem(stages.STAGES, "attention", failing)
    out = tmp_path / "audit"
    flags = [*NOTHING[:-3], "--quiet", "--fail-on", fail_on]  # attention runs, and fails
    assert main(["audit", str(model), "--out", str(out), *flags]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == "verdict: incomplete (1 fail, 0 warn): the attention stage failed"
    assert json.loads((out / "result.json").read_text())["verdict"]["status"] == "incomplete"


def test_an_older_result_shows_no_verdict_recorded(model, tmp_path, capsys):
    out = tmp_path / "audit"
    assert audit(model, out) == 0
    data = json.loads((out / "result.json").read_text())
    del data["verdict"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert main(["report", str(old), "-o", str(tmp_path / "old.html")]) == 0
    assert "no verdict recorded" in (tmp_path / "old.html").read_text()


def help_text(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out.split("exit codes:")[1]


@pytest.mark.parametrize(
    ("command", "codes"),
    [("audit", "0123"), ("report", "023"), ("compare", "023"), ("gate", "01234")],
)
def test_each_help_lists_only_its_own_exit_codes(command, codes, capsys):
    listed = {
        line.split()[0]
        for line in help_text(command, capsys).splitlines()
        if line[:3].strip().isdigit()
    }
    assert listed == set(codes)


def test_audit_help_explains_fail_on(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out = capsys.readouterr().out
    assert "--fail-on {fail,warn,never}" in out
    assert "pass with warnings" in out
