"""``harness audit-many`` and ``harness audit --samples all``: exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.scale.plan import read_plan
from harness.scale.store import Store
from harness.scale.units import cut_plan
from tests.scale.conftest import SAMPLES, write_plan


def _last_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_audit_many_writes_reports_and_a_summary_and_exits_0(tmp_path, tiny_folder, capsys):
    plan = write_plan(tmp_path, tiny_folder, shard_size=3)
    code = main(["audit-many", str(plan), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0
    assert "done dataset saliency 0-3" in captured.err  # plain progress lines off a terminal
    assert (
        "ran 3 of 3 units in " in captured.err
        and "(0 already in the store, 0 failed)" in captured.err
    )
    assert captured.err.strip().splitlines()[-1].startswith("dataset: verdict: pass")
    page = (tmp_path / "out/summary.html").read_text()
    assert 'href="models/dataset/report.html"' in page
    assert "<script" not in page and "http" not in page  # self-contained, offline
    assert (tmp_path / "out/models/dataset/report.html").is_file()
    # The aggregate reads back as any result does: schema, bounds and consistency checked.
    result = AuditResult.read(tmp_path / "out/models/dataset/result.json")
    assert result.explanations.samples == SAMPLES
    assert result.stage_seconds == {} and result.explanations.timing == {}


def test_a_bad_plan_exits_2_with_one_line(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text("[[models]]\nname = 'x'\n")
    assert main(["audit-many", str(plan)]) == 2
    lines = _last_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("UsageError: plan ")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "2"], "--executor inline runs one unit at a time"),
        (["--ray-address", "auto"], "--ray-address needs --executor ray"),
        (["--executor", "process", "--workers", "0"], "--workers must be from 1"),
    ],
)
def test_executor_flags_are_checked(tmp_path, tiny_folder, capsys, flags, message):
    plan = write_plan(tmp_path, tiny_folder)
    assert main(["audit-many", str(plan), "--out", str(tmp_path / "out"), *flags]) == 2
    assert message in _last_lines(capsys)[-1]
    assert not (tmp_path / "out").exists()


def test_a_unit_that_keeps_failing_exits_5_naming_it(tmp_path, tiny_folder, capsys):
    plan = write_plan(tmp_path, tiny_folder, shard_size=3, retries=0)
    failing = next(u.id for u in cut_plan(read_plan(plan)).units if u.kind == "shard")
    faults = Store.open(tmp_path / "out.units").root / "faults"
    faults.mkdir()
    (faults / failing).write_text("raise\n")
    code = main(["audit-many", str(plan), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 5
    assert f"unit {failing} (dataset saliency 0-3) failed after 1 attempt(s)" in err
    assert "partial: rerun the same command" in err
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["partial"] is True and summary["models"][0]["verdict"] == "incomplete"
    assert "Partial:" in (tmp_path / "out/summary.html").read_text()


def test_audit_samples_all_explains_every_sample_of_data(tmp_path, tiny_folder, capsys):
    out = tmp_path / "audit"
    code = main(
        [
            "audit",
            str(tiny_folder / "tiny_cnn.onnx"),
            "--data",
            str(tiny_folder / "data.npz"),
            "--samples",
            "all",
            "--shard-size",
            "4",
            "--explainers",
            "saliency",
            "--budget",
            "quick",
            "--skip",
            "efficiency",
            "--skip",
            "attention",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "result.json"]
    result = json.loads((out / "result.json").read_text())
    assert result["explanations"]["samples"] == SAMPLES
    assert result["explanations"]["plan"]["shards"] == 2
    saliency = result["explanations"]["methods"][0]
    assert len(saliency["metrics"][0]["per_sample"]) == SAMPLES
    assert "--samples all" in result["command"]
    assert (tmp_path / "audit.units/store.json").is_file()


def test_audit_refuses_executor_flags_without_samples_all(tmp_path, tiny_folder, capsys):
    model = str(tiny_folder / "tiny_cnn.onnx")
    assert main(["audit", model, "--executor", "process", "--out", str(tmp_path / "o")]) == 2
    assert "add --samples all" in _last_lines(capsys)[-1]


def test_audit_many_help_lists_its_exit_codes_and_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "try:\n"
        "    main(['audit-many', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'torch', 'onnx', 'onnxruntime', 'numpy', 'ray', 'jinja2'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    assert "5  partial: a work unit failed every attempt" in done.stdout
    assert "--executor {inline,process,ray}" in done.stdout


def test_a_model_that_cannot_be_audited_is_listed_without_a_result_not_dropped(
    tmp_path, tiny_folder, capsys
):
    from harness.testing import onnx_builders

    broken = onnx_builders.nan_output_model(tmp_path)  # refused at intake: NaN outputs
    plan = write_plan(tmp_path, tiny_folder, shard_size=6)
    plan.write_text(plan.read_text() + f'\n[[models]]\nname = "broken"\nmodel = "{broken}"\n')
    code = main(["audit-many", str(plan), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 5
    assert "(broken intake) failed after 1 attempt(s): ModelOutputError" in err  # not retried
    assert "broken: no result (its intake unit did not finish)" in err
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    rows = {row["name"]: row for row in summary["models"]}
    assert rows["broken"]["verdict"] == "no result" and rows["broken"]["rank"] == 2
    assert rows["broken"]["report"] is None and rows["dataset"]["verdict"] == "pass"
    assert not (tmp_path / "out/models/broken").exists()


@pytest.mark.slow  # two fresh interpreters import torch
def test_a_crashed_driver_loses_no_finished_unit_and_the_rerun_finishes_the_rest(
    tmp_path, tiny_folder
):
    plan = write_plan(tmp_path, tiny_folder, shard_size=2)  # intake + 3 shards
    third = [u.id for u in cut_plan(read_plan(plan)).units][2]
    faults = Store.open(tmp_path / "out.units").root / "faults"
    faults.mkdir()
    (faults / third).write_text("kill\n")  # inline: the unit runs in the driver, which dies
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "harness", "audit-many", str(plan), "--out", "out"]
    crashed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert crashed.returncode == -9  # SIGKILL: no clean-up ran
    assert len(list((tmp_path / "out.units/units").glob("*.json"))) == 2
    assert not list(tmp_path.glob("out.units/units/.*.tmp"))  # nothing half-written

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert (
        "ran 2 of 4 units" in rerun.stderr and "(2 already in the store, 0 failed)" in rerun.stderr
    )
    result = json.loads((tmp_path / "out/models/dataset/result.json").read_text())
    assert result["explanations"]["samples"] == SAMPLES
