"""Counting the work of real exports, through the CLI: FLOPs through dynamic reshapes that
only onnxruntime sees through, weights stored as Constant nodes, and a graph of contrib ops
whose count is incomplete (and then never treated as a number)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from markupsafe import escape

from harness.cli import main
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.testing.wild import work as wild
from tests.stages.efficiency.test_flops_completeness import bert_matmul_flops, bert_total_flops

SKIPPED = "skipped by --skip"


def audit(model: Path, out: Path, *flags: str) -> dict[str, Any]:
    """A quick audit of MODEL, explanations and attention skipped: its result.json."""
    args = ["audit", str(model), "--out", str(out), "--quiet", "--budget", "quick",
            "--skip", "explanations", "--skip", "attention", *flags]  # fmt: skip
    assert main(args) == 0
    data = json.loads((out / "result.json").read_text())
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)
    assert AuditResult.from_dict(data).to_dict() == data
    for stage in ("explanations", "attention"):
        assert data[stage]["status"] == "skipped"
        assert data[stage]["reason"].startswith(SKIPPED)
    return data


def test_bert_flops_through_dynamic_reshapes_equal_the_hand_count(tmp_path: Path) -> None:
    model = wild.build_bert_dynamic_reshape(tmp_path / "model")
    data = audit(model, tmp_path / "a", "--shape", "input_ids=2x16", "--shape",
                 "attention_mask=2x16")  # fmt: skip
    section = data["efficiency"]
    assert section["status"] == "ok", section["reason"]
    work = section["work"]
    assert (work["status"], work["incomplete_reason"], work["uncounted_ops"]) == (
        "complete", None, [],
    )  # fmt: skip
    matmul = next(op for op in work["by_op"] if op["op_type"] == "MatMul")
    assert (matmul["count"], matmul["flops"]) == (8, bert_matmul_flops(2, 16))
    assert work["flops"] == bert_total_flops(2, 16)
    (run,) = section["runs"]
    assert run["roofline"]["achieved_gflops"] > 0  # a complete count gets its roofline
    html = (tmp_path / "a" / "report.html").read_text()
    assert "not modelled" not in html and 'id="work-flops"' in html


def test_constant_node_weights_are_parameters(tmp_path: Path) -> None:
    model = wild.build_constant_node_weights(tmp_path / "model")
    data = audit(model, tmp_path / "a", "--shape", "x=3x16")
    by_hand = 16 * 32 + 32 + 32 * 10 + 10  # W1, b1, W2 (Constants), b2 (an initializer)
    assert (data["model"]["parameter_count"], data["model"]["parameter_bytes"]) == (
        by_hand, 4 * by_hand,
    )  # fmt: skip
    work = data["efficiency"]["work"]
    assert work["weight_bytes"] == 4 * by_hand
    assert work["status"] == "complete"
    matmul = next(op for op in work["by_op"] if op["op_type"] == "MatMul")
    assert matmul["flops"] == 2 * 3 * 16 * 32 + 2 * 3 * 32 * 10


@pytest.fixture(scope="module")
def contrib_audit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contrib")
    model = wild.build_contrib_op_block(root / "model")
    audit(model, root / "a", "--shape", "x=2x16x32")
    return root / "a"


REASON = (
    "the cost of 3 of 4 nodes (75.0%) is unknown, among them com.microsoft.FusedMatMul, "
    "where most of the work is: com.microsoft.FastGelu x1 (custom-domain op), "
    "com.microsoft.FusedMatMul x1 (custom-domain op), "
    "com.microsoft.SkipLayerNormalization x1 (custom-domain op)"
)


def test_contrib_ops_make_the_count_incomplete_with_the_reason(contrib_audit: Path) -> None:
    data = json.loads((contrib_audit / "result.json").read_text())
    section = data["efficiency"]
    assert section["status"] == "ok", section["reason"]
    work = section["work"]
    assert (work["status"], work["unknown_cost_share"]) == ("incomplete", 0.75)
    assert work["incomplete_reason"] == REASON
    # The one plain MatMul, after two contrib ops, was counted from observed shapes; the
    # sum is a lower bound and nothing downstream takes it for the model's count.
    assert work["flops"] == 2 * 2 * 16 * 32 * 32
    assert all(run["roofline"] is None for run in section["runs"])


def test_the_report_says_incomplete_and_draws_no_count(contrib_audit: Path) -> None:
    html = (contrib_audit / "report.html").read_text()
    assert f"incomplete: {escape(REASON)}" in html
    assert 'id="work-flops"' not in html  # no FLOPs figure
    assert "GFLOPs (" not in html and "Arithmetic intensity" not in html
    assert "efficiency.work_incomplete" in html or "the FLOP count is incomplete" in html
    assert "of peak)" not in html and "of the compute peak" not in html


def test_the_gate_reports_work_flops_missing(contrib_audit: Path, tmp_path: Path, capsys) -> None:
    result = contrib_audit / "result.json"
    capsys.readouterr()
    code = main(["gate", str(result), str(result), "--check", "work.flops:0%"])
    out = capsys.readouterr().out
    assert code == 0
    assert "work.flops:0% (missing): work.flops is not computed" in out
    assert "65,536" not in out  # the lower bound is never shown as a value


def test_compare_shows_no_flops_for_incomplete_counts(contrib_audit: Path, tmp_path: Path) -> None:
    result = contrib_audit / "result.json"
    out = tmp_path / "diff.html"
    assert main(["compare", str(result), str(result), "-o", str(out)]) == 0
    html = out.read_text()
    assert "work.flops is not computed" in html and "65,536" not in html
