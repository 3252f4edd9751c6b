"""One inference call on every zoo model, per backend and batch size.

    test_bench_zoo_inference[<model>-<backend>-b<batch>]      e.g. [cnn-onnxruntime-b8]

    model    every ONNX export the zoo's manifest lists (``python -m harness.models list``)
    backend  onnxruntime: the efficiency stage's session (``OrtSession``: CPU, every graph
             optimisation); torch: the ONNX file's PyTorch twin, eager under
             ``inference_mode`` (``TorchModule``), skipped with the conversion's reason
             where the twin does not convert or does not match onnxruntime
    batch    1, 8 and 32 of the model's task test samples (token models keep the task's
             sequence length); 32 is ``heavy``

Each benchmark times the call the efficiency stage samples (``caller(feeds)``), on one
intra-op thread; sessions and twins are built once per module. ``extra_info`` records the
model, backend, batch, threads and input shapes. The harness's own overhead (its sampling
loop against a bare ``session.run`` loop) is ``test_harness_overhead_against_a_bare_loop``
in test_bench_profiler.py, not repeated here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.core.config import AuditConfig
from harness.core.errors import first_line
from harness.models import ARTIFACTS_DIR, get_reference
from harness.models.manifest import read_manifest
from harness.models.tasks import load_task

ZOO = tuple(sorted(read_manifest(ARTIFACTS_DIR)))
BACKENDS = ("onnxruntime", "torch")
BATCHES = (1, 8, 32)
HEAVY_BATCH = 32

CASES = [
    pytest.param(
        model,
        backend,
        batch,
        id=f"{model}-{backend}-b{batch}",
        marks=[pytest.mark.heavy] if batch >= HEAVY_BATCH else [],
    )
    for model in ZOO
    for backend in BACKENDS
    for batch in BATCHES
]


def _feeds(model: str, batch: int) -> dict[str, np.ndarray]:
    return load_task(get_reference(model).task).test_batch(batch)


class _Runners:
    """Each (model, backend)'s profiling backend, built on first use; or why there is none."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._built: dict[tuple[str, str], Any] = {}

    def get(self, model: str, backend: str) -> Any:
        key = (model, backend)
        if key not in self._built:
            self._built[key] = self._build(model, backend)
        return self._built[key]

    def _build(self, model: str, backend: str) -> Any:
        from harness.stages.efficiency.ort_backend import OrtSession
        from harness.stages.efficiency.torch_backend import TorchModule

        path = get_reference(model).onnx_path
        if backend == "onnxruntime":
            return OrtSession(path, "cpu", self.threads)
        try:  # the twin is checked against onnxruntime on these samples
            return TorchModule(AuditConfig(model=str(path)), "cpu", self.threads, _feeds(model, 1))
        except RuntimeError as exc:
            return f"{model} has no PyTorch twin: {first_line(exc)}"


@pytest.fixture(scope="module")
def runners(one_torch_thread: int) -> _Runners:
    return _Runners(one_torch_thread)


@pytest.mark.parametrize(("model", "backend", "batch"), CASES)
def test_bench_zoo_inference(
    benchmark: Any, runners: _Runners, model: str, backend: str, batch: int
) -> None:
    runner = runners.get(model, backend)
    if isinstance(runner, str):
        pytest.skip(runner)
    feeds = _feeds(model, batch)
    benchmark.group = f"zoo inference: {model}"
    benchmark.extra_info.update(
        model=model,
        backend=backend,
        batch=batch,
        threads=runners.threads,
        inputs={name: list(array.shape) for name, array in feeds.items()},
    )
    benchmark(runner.caller(feeds))
