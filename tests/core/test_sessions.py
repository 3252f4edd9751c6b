"""The one onnxruntime session factory: its settings reach the session, every source kind
opens, CUDA falls back to the CPU quietly, and no other module builds a session."""

from __future__ import annotations

import ast
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import harness
from harness.core import sessions
from harness.core.sessions import SessionSettings, create_session, provider_names
from harness.testing.onnx_builders import external_data_model, recurrent_state_model

CUDA_HERE = "CUDAExecutionProvider" in ort.get_available_providers()
FACTORY = Path("core") / "sessions.py"
BUILDERS = frozenset({"InferenceSession", "SessionOptions"})


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return recurrent_state_model(tmp_path_factory.mktemp("recurrent"))


def _feeds() -> dict[str, np.ndarray]:
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    return {"x": x, "h0": np.full((2, 8), 0.25, dtype=np.float32)}


def _assert_runs(session) -> None:
    (h1,) = session.run(["h1"], _feeds())
    np.testing.assert_allclose(h1, np.tanh(_feeds()["x"] + 0.25), rtol=1e-6)


# --------------------------------------------------------------------------- settings


def test_threads_mean_intra_op_threads_one_inter_op_thread_sequential(model_path):
    session = create_session(model_path, SessionSettings(intra_op_threads=3))
    options = session.get_session_options()
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


def test_no_threads_leaves_onnxruntime_its_defaults(model_path):
    options = create_session(model_path, SessionSettings()).get_session_options()
    defaults = ort.SessionOptions()
    assert options.intra_op_num_threads == defaults.intra_op_num_threads == 0
    assert options.inter_op_num_threads == defaults.inter_op_num_threads == 0
    assert SessionSettings().inter_op_threads is None
    assert SessionSettings(intra_op_threads=2).inter_op_threads == 1


def test_log_severity_is_fatal_by_default_and_graph_optimisation_as_named(model_path):
    options = create_session(model_path).get_session_options()
    assert options.log_severity_level == sessions.FATAL == 4
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    basic = SessionSettings(log_severity=3, graph_optimization="ORT_ENABLE_BASIC")
    options = create_session(model_path, basic).get_session_options()
    assert options.log_severity_level == 3
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC


def test_cpu_asks_for_the_cpu_provider_only(model_path):
    assert provider_names("cpu") == ["CPUExecutionProvider"]
    assert create_session(model_path).get_providers() == ["CPUExecutionProvider"]


def test_a_profile_prefix_turns_the_profiler_on(model_path, tmp_path):
    prefix = tmp_path / "trace"
    session = create_session(model_path, SessionSettings(profile_prefix=str(prefix)))
    _assert_runs(session)
    trace = Path(session.end_profiling())
    assert trace.is_file() and trace.name.startswith("trace")
    assert not create_session(model_path).get_session_options().enable_profiling


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device"):
        SessionSettings(device="tpu")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- cuda


def test_cuda_asks_for_cuda_first_and_the_cpu_as_fallback(model_path, monkeypatch):
    requested = []

    def recording_session(source, options, providers):
        requested.append(providers)
        return "session"

    monkeypatch.setattr(ort, "get_available_providers", lambda: provider_names("cuda"))
    monkeypatch.setattr(ort, "InferenceSession", recording_session)
    assert create_session(model_path, SessionSettings(device="cuda")) == "session"
    assert requested == [["CUDAExecutionProvider", "CPUExecutionProvider"]]


@pytest.mark.skipif(CUDA_HERE, reason="this onnxruntime has CUDA: nothing falls back")
def test_cuda_without_the_cuda_provider_runs_on_the_cpu_and_says_so(model_path, caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # onnxruntime's own fallback warning would raise
        with caplog.at_level(logging.WARNING, logger=sessions.__name__):
            session = create_session(model_path, SessionSettings(device="cuda"))
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "no CUDAExecutionProvider" in caplog.text
    _assert_runs(session)


# ---------------------------------------------------------------------------- sources


def test_opens_a_path_a_string_bytes_and_a_proto(model_path):
    for source in (model_path, str(model_path), model_path.read_bytes(), onnx.load(model_path)):
        _assert_runs(create_session(source))


def test_a_path_resolves_external_data_beside_the_model(tmp_path):
    path = external_data_model(tmp_path)
    x = np.ones((2, 64), dtype=np.float32)
    (y,) = create_session(path).run(["y"], {"x": x})
    weight = onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0])
    np.testing.assert_allclose(y, x @ weight, rtol=1e-5)


def test_a_proto_too_large_for_one_message_goes_through_external_data(tmp_path, monkeypatch):
    proto = onnx.load(external_data_model(tmp_path))  # its weight now in memory
    weight = onnx.numpy_helper.to_array(proto.graph.initializer[0])
    monkeypatch.setattr(sessions, "_PROTO_LIMIT", 0)  # every proto counts as too large
    x = np.ones((2, 64), dtype=np.float32)
    (y,) = create_session(proto).run(["y"], {"x": x})
    np.testing.assert_allclose(y, x @ weight, rtol=1e-5)
    # The caller's proto keeps its tensor bytes (onnx.save moves them out of what it saves).
    kept = proto.graph.initializer[0]
    assert kept.data_location == onnx.TensorProto.DEFAULT and kept.raw_data


def test_onnxruntime_errors_propagate_for_the_caller_to_map(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(Exception) as raised:
        create_session(broken)
    assert type(raised.value).__module__.startswith("onnxruntime")


# ------------------------------------------------------------------- one factory only


def _package_files() -> list[Path]:
    """Every .py file of the installed harness package, through the models/, explainers/
    and reports/ links."""
    root = Path(harness.__file__).parent
    files = []
    for folder, _, names in os.walk(root, followlinks=True):
        files += [Path(folder, n).relative_to(root) for n in names if n.endswith(".py")]
    return files


def _session_builds(source: str) -> int:
    """Calls of ``InferenceSession(...)`` or ``SessionOptions(...)``, however imported."""
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            count += name in BUILDERS
    return count


def test_sessions_are_built_only_by_the_factory():
    root = Path(harness.__file__).parent
    files = _package_files()
    linked = {f.parts[0] for f in files}
    assert {"models", "explainers", "reports", "core", "stages"} <= linked
    builds = {f: _session_builds((root / f).read_text()) for f in files}
    outside = {str(f): n for f, n in builds.items() if n and f != FACTORY}
    assert outside == {}, "build sessions with harness.core.sessions.create_session"
    assert builds[FACTORY] > 0  # the walk does see a construction where there is one
