"""onnxruntime's session errors keep their cause: the source location it prefixes is
dropped, a long message is cut in its middle, and running out of memory says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import FOREIGN_TEXT_LIMIT, ModelLoadError, UnsupportedModelError
from harness.core.model import LoadedModel
from harness.runtime import forward

ALLOCATION_FAILURE = (
    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Exception during initialization: "
    "/onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* "
    "onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, "
    "onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size "
    "4000000000\n"
)


def session_error(monkeypatch: pytest.MonkeyPatch, message: str) -> Exception:
    def failing(path: str, settings: object) -> None:
        raise RuntimeError(message)

    monkeypatch.setattr(forward, "create_session", failing)
    model = LoadedModel(
        source="big.onnx", name="big", format="onnx", inputs=(), outputs=(), path=Path("big.onnx")
    )
    with pytest.raises(ModelLoadError) as caught:
        forward.create_onnx_session(model, "cpu", threads=1)
    return caught.value


def test_allocation_failure_keeps_its_cause_without_the_source_location(monkeypatch):
    error = session_error(monkeypatch, ALLOCATION_FAILURE)
    text = str(error)
    assert "ran out of memory" in text
    assert "Failed to allocate memory for requested buffer of size 4000000000" in text
    assert "bfc_arena.cc" not in text and "AllocateRawInternal" not in text


def test_a_long_message_is_cut_in_the_middle_keeping_the_cause(monkeypatch):
    error = session_error(monkeypatch, "context " * 200 + "Failed to allocate memory for x")
    text = str(error)
    assert text.count("context") < 50 and " ... " in text
    assert "Failed to allocate memory for x" in text
    assert len(text) < FOREIGN_TEXT_LIMIT + 200


def test_other_session_failures_stay_load_errors_with_the_message(monkeypatch):
    error = session_error(monkeypatch, "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : bad")
    assert not isinstance(error, UnsupportedModelError)
    assert (
        str(error) == "onnxruntime cannot load big: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : bad"
    )
