"""The efficiency stage end to end: measured in subprocesses, written into the result."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.core.schema import load_result_schema
from harness.stages.efficiency import BUDGETS

NO_CUDA = not __import__("torch").cuda.is_available()


def efficiency_of(args: list[str], out: Path) -> dict:
    assert main(["audit", *args, "--out", str(out), "--quiet", "--budget", "quick"]) == 0
    data = json.loads((out / "result.json").read_text())
    jsonschema.Draft202012Validator(load_result_schema()).validate(data)
    assert AuditResult.from_dict(data).to_dict() == data
    section = data["efficiency"]
    assert section["status"] == "ok", section["reason"]
    return section


def assert_sampled_enough(latency: dict) -> None:
    """Every timed call is kept, and there are the budget's minimum of them unless the time
    limit cut sampling short: how many calls fit the limit depends on how busy the machine
    is, so a count alone would fail on a loaded one."""
    assert latency["n"] == len(latency["samples_ms"]) >= 1
    enough = latency["n"] >= BUDGETS["quick"].min_calls
    assert enough or latency["stopped_because"] == "time limit", latency["stopped_because"]


def test_onnx_model_on_onnxruntime(shelf, tmp_path):
    section = efficiency_of([str(shelf.get("tiny_cnn"))], tmp_path / "a")
    (run,) = section["runs"]
    assert (run["backend"], run["device"]) == ("onnxruntime", "cpu")
    latency = run["latency"]
    assert_sampled_enough(latency)
    assert latency["min_ms"] <= latency["percentiles_ms"]["p50"]["value"] <= latency["max_ms"]
    assert run["cold_start"]["session_ms"] > 0 and run["cold_start"]["first_call_ms"] > 0
    sizes = [p["batch_size"] for p in run["throughput"]["points"]]
    assert sizes == [1, 2, 4, 8]
    assert run["throughput"]["best_batch_size"] in sizes
    assert run["memory"]["inference_peak_bytes"] > 0
    assert run["op_profile"]["by_op"]
    assert section["work"]["flops"] > 0
    assert run["roofline"]["achieved_gflops"] > 0 and run["roofline"]["peak_gflops"] > 0
    assert section["isolation"].startswith("each backend measured in fresh subprocesses")


@pytest.mark.slow
@pytest.mark.skipif(not NO_CUDA, reason="asserts the CPU-only outcome")
def test_cuda_runs_are_reported_as_skipped_without_a_gpu(shelf, tmp_path):
    section = efficiency_of([str(shelf.get("tiny_cnn"))], tmp_path / "a")
    assert section["not_measured"]["onnxruntime/cuda"] == "skipped: no CUDA device"


def test_reference_model_on_torch(tmp_path):
    section = efficiency_of(["ref:cnn"], tmp_path / "a")
    (run,) = section["runs"]
    assert (run["backend"], run["device"]) == ("torch", "cpu")
    assert run["op_profile"] is None
    assert run["settings"]["runtime"].startswith("torch")
    assert section["work"]["flops"] > 0


@pytest.mark.slow
def test_a_model_that_sleeps_shows_at_least_its_sleep(tmp_path, monkeypatch):
    (tmp_path / "slowmod.py").write_text(
        "import time, torch\n"
        "class Slow(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        time.sleep(0.02)\n"
        "        return x * 2\n"
        "def build():\n"
        "    return Slow()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    section = efficiency_of(["slowmod:build", "--shape", "x=1x4"], tmp_path / "a")
    latency = section["runs"][0]["latency"]
    assert latency["min_ms"] >= 20.0
    assert latency["percentiles_ms"]["p50"]["value"] >= 20.0


@pytest.mark.slow
def test_a_model_that_allocates_shows_a_peak_at_least_that_large(tmp_path, monkeypatch):
    (tmp_path / "hungry.py").write_text(
        "import torch\n"
        "class Hungry(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        block = torch.ones(64 * 1024 * 1024)  # 256 MiB of float32, touched\n"
        "        return x + block[:1]\n"
        "def build():\n"
        "    return Hungry()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    section = efficiency_of(["hungry:build", "--shape", "x=1x4"], tmp_path / "a")
    assert section["runs"][0]["memory"]["inference_peak_bytes"] >= 256 << 20


@pytest.mark.slow
def test_a_fixed_batch_is_not_swept(shelf, tmp_path):
    section = efficiency_of([str(shelf.get("scalar_input_model")), "--value", "gain=2"],
                            tmp_path / "a")  # fmt: skip
    throughput = section["runs"][0]["throughput"]
    assert [p["batch_size"] for p in throughput["points"]] == [1]
    assert "measured at the audit's batch only" in throughput["stopped_because"]


@pytest.mark.slow
def test_backend_all_measures_the_onnx_file_on_both_runtimes(shelf, tmp_path):
    section = efficiency_of([str(shelf.get("tiny_cnn")), "--backend", "all"], tmp_path / "a")
    assert [(r["backend"], r["device"]) for r in section["runs"]] == [
        ("onnxruntime", "cpu"),
        ("torch", "cpu"),
    ]
    torch_run = section["runs"][1]
    assert torch_run["settings"]["runtime"].startswith("torch")
    assert_sampled_enough(torch_run["latency"])


@pytest.mark.slow
def test_unconvertible_model_keeps_onnxruntime_numbers(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    # com.microsoft's Gelu runs in onnxruntime; onnx2torch has no converter for it.
    graph = helper.make_graph(
        [helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")],
        "ms_gelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    path = tmp_path / "ms_gelu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    section = efficiency_of([str(path), "--backend", "all"], tmp_path / "a")
    assert [r["backend"] for r in section["runs"]] == ["onnxruntime"]
    reason = section["not_measured"]["torch/cpu"]
    assert "onnx2torch conversion failed" in reason and "Gelu" in reason
