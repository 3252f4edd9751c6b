"""Issue 16: the explanations stage plans its work and keeps a deadline as a safety net.

A 1-D input of 40,000 samples would cost Occlusion 40,000 forwards a sample at one element
a window; the automatic window bounds it. With the deadline made small (monkeypatched, so
nothing here depends on how fast the machine is), every method stops where it was, is
marked ``incomplete`` with the deadline as its reason, and the stage still says what ran
(not "no attribution method can run")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.core.config import AuditConfig
from harness.explainers.methods.feature_ablation import MAX_FEATURES, contiguous_groups
from harness.explainers.methods.occlusion import MAX_WINDOWS, occlusion_window
from harness.pipeline import run_audit
from harness.stages.explanations import stage as stage_module
from harness.stages.explanations.budget import BUDGETS

LENGTH = 40_000


def long_signal_model(dest: Path) -> Path:
    """(batch, 40000) float -> 3 class scores: one MatMul."""
    weight = np.random.default_rng(0).standard_normal((LENGTH, 3)).astype(np.float32) * 0.01
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["signal", "w"], ["scores"])],
        "long_signal",
        [helper.make_tensor_value_info("signal", TensorProto.FLOAT, ["batch", LENGTH])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = dest / "long_signal.onnx"
    onnx.save(model, path)
    return path


def test_occlusion_windows_are_sized_from_the_input():
    windows, strides = occlusion_window((LENGTH,), "vector", 0, 0)
    count = -(-LENGTH // windows[-1])
    assert count <= MAX_WINDOWS and windows == strides
    # Short inputs keep one element a window; an explicit window is kept as given.
    assert occlusion_window((64,), "vector", 0, 0) == ((1,), (1,))
    assert occlusion_window((LENGTH,), "vector", 5, 0) == ((5,), (5,))


def test_feature_ablation_groups_a_long_input():
    import torch

    mask = contiguous_groups(torch.zeros(2, LENGTH))
    assert mask is not None and mask.shape == (1, LENGTH)
    assert int(mask.unique().numel()) == MAX_FEATURES
    assert contiguous_groups(torch.zeros(2, 64)) is None


@pytest.fixture
def tiny_deadline(monkeypatch):
    """The quick budget with a deadline already past: every guarded forward stops."""
    budgets = {name: BUDGETS[name] for name in ("quick", "standard", "thorough")}
    budgets["quick"] = replace(budgets["quick"], seconds=0.0)
    monkeypatch.setattr(stage_module, "BUDGETS", budgets)


def test_a_deadline_marks_every_method_incomplete_with_the_true_reason(tmp_path, tiny_deadline):
    config = AuditConfig(
        model=str(long_signal_model(tmp_path)),
        budget="quick",
        skip=("efficiency", "attention"),
        explainers=("saliency", "occlusion", "feature_ablation"),
        threads=1,
    )
    section = run_audit(config).explanations
    assert section is not None
    # Not "no attribution method can run": the methods could run, the deadline stopped them.
    assert section.status == "ok" and section.reason is None
    statuses = {m.name: (m.status, m.reason or "") for m in section.methods}
    assert set(statuses) == {"saliency", "occlusion", "feature_ablation"}
    for name, (status, reason) in statuses.items():
        assert status == "incomplete", name
        assert "deadline passed" in reason and "not finished" in reason, reason
    # The plan is recorded whatever the deadline did.
    assert section.plan["budget"] == "quick" and section.plan["n_steps"] == BUDGETS["quick"].n_steps
    # The random baseline's metrics were stopped too: no value, the reason, never "failed".
    baseline = section.random_baseline
    assert baseline is not None
    stopped = [m for m in baseline.metrics if "incomplete" in m.parameters]
    assert stopped and all(m.value is None for m in stopped)
    assert not any("failed" in m.parameters for m in baseline.metrics)


def test_a_long_signal_is_explained_by_occlusion_in_bounded_windows(tmp_path):
    config = AuditConfig(
        model=str(long_signal_model(tmp_path)),
        budget="quick",
        skip=("efficiency", "attention"),
        explainers=("occlusion",),
        threads=1,
    )
    section = run_audit(config).explanations
    assert section is not None
    (occlusion,) = section.methods
    assert occlusion.status == "ok", occlusion.reason
    width = int(str(occlusion.parameters["sliding_window_shapes"]))
    assert -(-LENGTH // width) <= MAX_WINDOWS
    assert occlusion.sanity is not None and occlusion.sanity.verdict in ("pass", "fail")
    assert occlusion.sanity.layers_planned == 1  # one MatMul: the plan's depth, all done
