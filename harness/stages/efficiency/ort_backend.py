"""onnxruntime as a profiling backend: sessions, timed calls, its own op profiler, and the
float32 matmul peak on the same runtime and threads."""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from harness.core.efficiency import NodeTime, OpProfile, OpTime
from harness.core.sessions import SessionDevice, SessionSettings, create_session
from harness.stages.efficiency.sampling import gflop_rate

__all__ = ["OrtSession", "matmul_call", "matmul_peak_gflops", "op_profile"]

_GRAPH_OPT = "ORT_ENABLE_ALL"


class OrtSession:
    """A session with its settings, and how long loading and creating it took."""

    def __init__(
        self, path: Path, device: str, threads: int | None, *, profile_dir: Path | None = None
    ) -> None:
        started = time.perf_counter()
        model_bytes = path.read_bytes()
        self.load_ms = (time.perf_counter() - started) * 1e3
        settings = SessionSettings(
            device=cast(SessionDevice, device),
            intra_op_threads=threads,
            graph_optimization=_GRAPH_OPT,
            profile_prefix=None if profile_dir is None else str(profile_dir / "ort"),
        )
        # From bytes: the file read is timed apart; external data needs the path instead.
        # Decided before the session clock starts, so session_ms times onnxruntime alone.
        source: str | bytes = str(path) if _has_external_data(model_bytes) else model_bytes
        started = time.perf_counter()
        self.session = create_session(source, settings)
        self.session_ms = (time.perf_counter() - started) * 1e3
        self.device = device
        self.threads = threads
        self.output_names = [o.name for o in self.session.get_outputs()]

    def settings(self) -> dict[str, str]:
        import onnxruntime as ort

        return {
            "runtime": f"onnxruntime {ort.__version__}",
            "providers": ",".join(self.session.get_providers()),
            "intra_op_threads": str(self.threads) if self.threads else "default (all cores)",
            "inter_op_threads": "1" if self.threads else "default",
            "graph_optimization_level": _GRAPH_OPT,
            "io_binding": "yes" if self.device == "cuda" else "no",
        }

    def caller(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        """A no-argument function running one inference on ``feeds``."""
        if self.device == "cuda":
            return self._cuda_caller(feeds)
        session, names = self.session, self.output_names
        return lambda: session.run(names, feeds)

    def _cuda_caller(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        """IO binding: inputs copied to the GPU once, outputs left there, so a timed call is
        compute only; ``host_device_copy_ms`` measures the copies apart."""
        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        session = self.session

        def call() -> None:
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()

        return call

    def host_device_copy_ms(self, feeds: dict[str, np.ndarray]) -> float:
        """Inputs to the GPU plus outputs back to the host, in milliseconds (one round)."""
        import onnxruntime as ort

        started = time.perf_counter()
        for array in feeds.values():
            ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0)
        to_device = time.perf_counter() - started
        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        started = time.perf_counter()
        binding.copy_outputs_to_cpu()
        return (to_device + time.perf_counter() - started) * 1e3


def _has_external_data(model_bytes: bytes) -> bool:
    """Whether the model (already read) keeps tensors in external files."""
    import onnx

    from harness.intake.onnx_model import external_tensors

    return any(True for _ in external_tensors(onnx.load_from_string(model_bytes)))


def op_profile(
    path: Path, device: str, threads: int | None, feeds: dict[str, np.ndarray], runs: int
) -> OpProfile:
    """onnxruntime's profiler over ``runs`` inferences (after one unprofiled-in-effect run)."""
    with tempfile.TemporaryDirectory(prefix="harness-ort-profile-") as folder:
        ort_session = OrtSession(path, device, threads, profile_dir=Path(folder))
        call = ort_session.caller(feeds)
        for _ in range(runs + 1):
            call()
        trace = Path(ort_session.session.end_profiling())
        events = json.loads(trace.read_text())
    return _summarise(events, runs)


def _summarise(events: list[dict[str, Any]], runs: int) -> OpProfile:
    run_windows = sorted(
        (e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run"
    )
    first_end = run_windows[0][1] if run_windows else -1
    node_us: dict[tuple[str, str], float] = defaultdict(float)
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        if event["ts"] <= first_end:  # the first run allocates: not steady state
            continue
        name = event["name"].removesuffix("_kernel_time")
        node_us[(name, event.get("args", {}).get("op_name", "?"))] += float(event["dur"])
    return _op_profile(node_us, runs)


def _op_profile(node_us: dict[tuple[str, str], float], runs: int) -> OpProfile:
    total = sum(node_us.values()) or 1.0
    by_type: dict[str, list[float]] = defaultdict(list)
    for (_, op_type), micros in node_us.items():
        by_type[op_type].append(micros)
    by_op = sorted(
        (
            OpTime(op, len(times), sum(times) / runs, sum(times) / total)
            for op, times in by_type.items()
        ),
        key=lambda o: -o.mean_us,
    )
    nodes = sorted(
        (NodeTime(name, op, micros / runs) for (name, op), micros in node_us.items()),
        key=lambda n: -n.mean_us,
    )
    return OpProfile(runs=runs, by_op=tuple(by_op), slowest_nodes=tuple(nodes[:10]))


def matmul_peak_gflops(n: int, device: str, threads: int | None, seconds: float) -> float:
    """Float32 GFLOP/s of an n x n x n MatMul on onnxruntime with the audit's settings."""
    return gflop_rate(matmul_call(n, device, threads), 2.0 * n**3, seconds)


def matmul_call(n: int, device: str, threads: int | None) -> Callable[[], object]:
    """One n x n x n float32 MatMul on onnxruntime with the audit's settings, as a call
    (the peak is timed in short probes between the model's own calls)."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((n, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "peak",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [onnx.numpy_helper.from_array(weight, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory(prefix="harness-peak-") as folder:
        path = Path(folder) / "peak.onnx"
        onnx.save(model, str(path))
        # Read from bytes (no external data): the session outlives the folder.
        session = OrtSession(path, device, threads)
    return session.caller({"a": rng.standard_normal((n, n)).astype(np.float32)})
