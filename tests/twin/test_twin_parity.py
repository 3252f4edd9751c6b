"""Parity sizes that respect the model: fixed dims fitted, second sizes with a fallback,
and a size onnxruntime or the twin cannot run dropped with a note, never a verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.core.model import TensorSpec
from harness.intake.onnx_model import load_onnx
from harness.twin import TorchTwin, to_torch
from harness.twin.parity import (
    check_parity,
    fit_fixed_dims,
    input_sets,
    reference_runs,
    second_sizes,
)


def spec(name: str, *shape: int | str | None) -> TensorSpec:
    return TensorSpec(name=name, dtype="float32", shape=shape)


def test_fixed_dims_are_fitted_by_cutting_or_tiling_rows():
    rows = np.arange(8, dtype=np.float32).reshape(4, 2)
    cut = fit_fixed_dims([spec("x", 1, 2)], {"x": rows})
    np.testing.assert_array_equal(cut["x"], rows[:1])
    tiled = fit_fixed_dims([spec("x", 3, 2)], {"x": rows[:2]})
    np.testing.assert_array_equal(tiled["x"], rows[[0, 1, 0]])
    dynamic = fit_fixed_dims([spec("x", "batch", 2)], {"x": rows})
    assert dynamic["x"].shape == (4, 2)


def test_a_batch_fixed_graph_gets_one_set_and_no_invented_size():
    sets = input_sets([spec("x", 1, 2)], {"x": np.zeros((4, 2), np.float32)})
    assert [s["x"].shape for s in sets] == [(1, 2)]


def test_second_sizes_fall_back_to_the_batch_alone():
    specs = [spec("x", "batch", 3, "height", "width")]
    sizes = second_sizes(specs, {"x": np.zeros((2, 3, 8, 8), np.float32)})
    assert [s["x"].shape for s in sizes] == [(3, 3, 4, 4), (3, 3, 8, 8)]
    only_batch = second_sizes([spec("x", "batch", 3)], {"x": np.zeros((2, 3), np.float32)})
    assert [s["x"].shape for s in only_batch] == [(3, 3)]  # the same size is not tried twice


def _echo(feeds):
    return {"y": feeds["x"] * 2.0}


def _sets(*batches: int) -> list[dict[str, np.ndarray]]:
    return [{"x": np.ones((b, 2), np.float32)} for b in batches]


def _refusing(rows: int):
    def run(feeds):
        if feeds["x"].shape[0] != rows:
            raise RuntimeError(f"only {rows} rows")
        return _echo(feeds)

    return run


def test_a_later_size_onnxruntime_cannot_run_is_left_out_with_a_note():
    runs = reference_runs(lambda: _refusing(2), _sets(2, 3))
    assert runs.failure is None
    assert [s["x"].shape for s in runs.sets] == [(2, 2)]
    assert runs.notes == ("not checked at x 3x2: onnxruntime cannot run them (only 2 rows)",)


def test_onnxruntime_failing_at_the_audit_inputs_is_the_failure():
    runs = reference_runs(lambda: _refusing(5), _sets(2, 3))
    assert runs.failure == "only 5 rows" and runs.sets == ()


def test_the_twin_failing_at_the_first_second_size_falls_back_to_the_next():
    runs = reference_runs(lambda: _echo, _sets(2, 3, 4))
    outcome = check_parity(runs, _refusing_all_but(2, 4), rtol=1e-3, atol=1e-5)
    assert outcome.failure is None
    assert [c.input_shapes for c in outcome.checks] == [{"x": (2, 2)}, {"x": (4, 2)}]
    assert outcome.note == (
        "checked at input sizes x 2x2 and x 4x2; not checked at x 3x2: the twin cannot run "
        "them (RuntimeError: not 3)"
    )


def _refusing_all_but(*allowed: int):
    def run(feeds):
        if feeds["x"].shape[0] not in allowed:
            raise RuntimeError(f"not {feeds['x'].shape[0]}")
        return _echo(feeds)

    return run


def test_a_second_size_that_runs_and_differs_is_still_a_mismatch():
    runs = reference_runs(lambda: _echo, _sets(2, 3))

    def skewed(feeds):
        return {"y": feeds["x"] * (2.0 if feeds["x"].shape[0] == 2 else 3.0)}

    outcome = check_parity(runs, skewed, rtol=1e-3, atol=1e-5)
    assert outcome.failure is not None
    assert outcome.failure.startswith("output 'y' differs by max 1")
    assert outcome.failure.endswith("at input sizes x 3x2")


@pytest.fixture
def batch_one_model(tmp_path: Path):
    """y = reshape(x, [1, -1]) @ W, x fixed at (1, 2, 2): an export with its batch baked in."""
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["rows"]),
        helper.make_node("MatMul", ["rows", "W"], ["y"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
        numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W"),
    ]
    graph = helper.make_graph(
        nodes,
        "batch_one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "batch_one.onnx"
    onnx.save(model, path)
    return load_onnx(str(path))


def test_a_batch_fixed_at_one_converts_when_given_four_samples(batch_one_model):
    samples = np.random.default_rng(0).standard_normal((4, 2, 2)).astype(np.float32)

    twin = to_torch(batch_one_model, {"x": samples})

    assert isinstance(twin, TorchTwin), twin.report.reason
    assert twin.report.reason is None
    assert [c.input_shapes for c in twin.report.parity] == [{"x": (1, 2, 2)}]
    assert twin.report.parity[0].ok
