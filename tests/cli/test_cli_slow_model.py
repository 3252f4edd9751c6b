"""A model that takes a good part of a second per call, audited on the quick budget: the
efficiency stage degrades (fewer calls, notes saying so) but never fails, and keeps what does
not depend on timing (cold start, memory, FLOPs).

The budget's time limits are scaled down so the time limit bites on any machine (20 calls
of this model never fit in half a second) and the test stays short; it asserts what the
stage records, never how long it took.
"""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest

from harness.cli import main
from harness.core.budget import BudgetTable
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.reports.findings import findings
from harness.stages.efficiency import stage as efficiency_stage
from harness.stages.efficiency.budget import BUDGETS
from harness.testing.slow_models import matmul_chain

FAST_STAGES_OFF = ["--skip", "explanations", "--skip", "attention"]


@pytest.fixture
def tight_quick_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick row with its time limits cut: half a second of sampling (the budget's 20
    calls never fit), the slow-model floor of 8 calls, a short sweep and op profile."""
    quick = dataclasses.replace(
        BUDGETS["quick"],
        min_seconds=0.1,
        max_seconds=0.5,
        warmup_max_seconds=0.1,
        sweep_max_batch=1,
        sweep_point_seconds=0.05,
        op_profile_runs=2,
        peak_seconds=0.05,
        memory_calls=1,
        slow_max_seconds=30.0,
        pass_seconds=60.0,
    )
    table = BudgetTable(quick=quick, standard=BUDGETS["standard"], thorough=BUDGETS["thorough"])
    monkeypatch.setattr(efficiency_stage, "BUDGETS", table)


def test_slow_model_gets_an_ok_section_with_notes(tight_quick_budget, tmp_path):
    model = matmul_chain(tmp_path / "model")
    out = tmp_path / "out"
    args = ["audit", str(model), "--out", str(out), "--quiet", "--budget", "quick"]
    assert main([*args, *FAST_STAGES_OFF]) == 0
    data = json.loads((out / "result.json").read_text())
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)
    assert AuditResult.from_dict(data).to_dict() == data

    section = data["efficiency"]
    assert section["status"] == "ok", section["reason"]
    (run,) = section["runs"]
    latency = run["latency"]
    # The budget's 20 calls did not fit: sampling went on to the slow-model floor.
    assert latency["stopped_because"] == "time limit"
    assert 8 <= latency["n"] < BUDGETS["quick"].min_calls
    assert latency["percentiles_ms"]["p50"]["value"] is not None
    assert latency["percentiles_ms"]["p99"]["insufficient"] is True
    assert any("time limit cut sampling" in note for note in run["notes"]), run["notes"]
    # What does not depend on timing is all there.
    assert run["cold_start"]["first_call_ms"] > 0
    assert run["memory"]["inference_peak_bytes"] > 0
    assert section["work"]["status"] == "complete" and section["work"]["flops"] > 0
    assert run["op_profile"]["by_op"][0]["op_type"] == "MatMul"
    # No finding advises the budget already in use, nor claims a best batch without rates.
    verdict = findings(AuditResult.from_dict(data))
    assert not any("budget quick" in f.title + f.evidence for f in verdict)
    assert not any(f.rule == "efficiency.best_batch" for f in verdict)


def test_a_pass_stopped_at_its_limit_leaves_the_stage_ok(monkeypatch, tmp_path):
    """Passes killed at a one-second limit: whatever each had recorded is kept, the run
    (or its absence) says it was cut, and the stage is still ok with FLOPs counted."""
    quick = dataclasses.replace(BUDGETS["quick"], pass_seconds=1.0)
    table = BudgetTable(quick=quick, standard=BUDGETS["standard"], thorough=BUDGETS["thorough"])
    monkeypatch.setattr(efficiency_stage, "BUDGETS", table)
    monkeypatch.setattr(efficiency_stage, "_GRACE_SECONDS", 0.0)
    model = matmul_chain(tmp_path / "model")
    out = tmp_path / "out"
    args = ["audit", str(model), "--out", str(out), "--quiet", "--budget", "quick"]
    assert main([*args, *FAST_STAGES_OFF]) == 0
    section = json.loads((out / "result.json").read_text())["efficiency"]
    assert section["status"] == "ok", section["reason"]
    assert section["work"]["flops"] > 0
    said = [*section["not_measured"].values(), *(n for r in section["runs"] for n in r["notes"])]
    assert any("cut at" in line for line in said), said
