"""The explanations stage's costs, on the zoo's digits CNN.

Backends: Occlusion and FeatureAblation through onnxruntime (the committed ONNX file, the
stage's ``SessionForward``) against the same methods on the PyTorch module (``ref:cnn``,
``ModuleForward``): same inputs, same feature blocks, same perturbations per call, rounds
interleaved in one run so machine drift cancels; the ratio is printed, and the two must
give the same attributions.

Batching: IntegratedGradients with the internal batch ``choose_batch`` picks from a memory
budget, against Captum's default (every sample x step in one pass): time and peak RSS.

Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from harness.core.sessions import SessionSettings, create_session
from harness.explainers.methods.base import AttributionRequest, Explainer
from harness.explainers.methods.batching import choose_batch
from harness.explainers.methods.feature_ablation import FeatureAblationExplainer
from harness.explainers.methods.feature_masks import default_feature_mask
from harness.explainers.methods.integrated_gradients import IntegratedGradientsExplainer
from harness.explainers.methods.occlusion import OcclusionExplainer
from harness.models import get_reference
from harness.models.tasks import load_task
from harness.stages.efficiency.memory import current_rss_bytes, watch_peak
from harness.stages.explanations.backends import ModuleForward, SessionForward
from harness.stages.explanations.plan import Subject

CNN = get_reference("cnn")
ROUNDS = 5
SAMPLES = 8
SUBJECT = Subject("pixels", "image", ())


def _forwards() -> dict[str, Any]:
    session = create_session(CNN.onnx_path, SessionSettings(intra_op_threads=1))
    dtypes = {"pixels": np.dtype("float32")}
    return {
        "onnxruntime": SessionForward(session, SUBJECT, {}, dtypes, fixed_batch=None),
        "torch": ModuleForward(CNN.build(), ("pixels",), SUBJECT, {}, by_name=True),
    }


def _request(forward: Any, pixels: torch.Tensor) -> AttributionRequest:
    with torch.no_grad():
        target = forward(pixels).argmax(1)
    return AttributionRequest(
        forward=forward,
        inputs=(pixels,),
        target=target,
        baseline=torch.zeros_like(pixels),
        modality="image",
        perturbations_per_eval=16,
        feature_mask=default_feature_mask("image", pixels),
    )


@pytest.mark.parametrize("method", [OcclusionExplainer, FeatureAblationExplainer])
def test_perturbation_methods_on_onnxruntime_against_the_module(method: type[Explainer]) -> None:
    torch.set_num_threads(1)
    pixels = torch.from_numpy(load_task("digits").test_batch(SAMPLES)["pixels"])
    requests = {name: _request(f, pixels) for name, f in _forwards().items()}
    explainer = method()
    outputs = {name: explainer.attribute(r) for name, r in requests.items()}  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(ROUNDS):  # interleaved
        for name, request in requests.items():
            started = time.perf_counter()
            explainer.attribute(request)
            seconds[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    ratio = median["onnxruntime"] / median["torch"]
    print(
        f"\n{method.NAME} on {SAMPLES} digits, 1 thread: onnxruntime "
        f"{median['onnxruntime'] * 1e3:.1f} ms, torch module {median['torch'] * 1e3:.1f} ms "
        f"(onnxruntime / torch = {ratio:.2f})"
    )
    assert torch.allclose(
        outputs["onnxruntime"].attributions, outputs["torch"].attributions, atol=1e-4
    )


def _ig_child(internal_batch_size: int | None, samples: int) -> tuple[float, int]:
    """In a fresh process (so no earlier run's freed memory hides this one's peak):
    (seconds, peak RSS above the RSS before the call)."""
    torch.set_num_threads(1)
    pixels = torch.from_numpy(load_task("digits").test_batch(samples)["pixels"])
    forward = ModuleForward(CNN.build(), ("pixels",), SUBJECT, {}, by_name=True)
    request = replace(_request(forward, pixels), internal_batch_size=internal_batch_size)
    IntegratedGradientsExplainer(n_steps=2).attribute(  # warm-up, a few rows
        replace(request, inputs=(pixels[:1],), target=request.target[:1], baseline=pixels[:1] * 0)
    )
    explainer = IntegratedGradientsExplainer(n_steps=50)
    before = current_rss_bytes()
    with watch_peak() as peak:
        started = time.perf_counter()
        explainer.attribute(request)
        seconds = time.perf_counter() - started
    return seconds, peak.peak_bytes - before


def test_integrated_gradients_chosen_batching_against_captum_defaults() -> None:
    import multiprocessing

    samples, rows = 32, 32 * 50
    parameter_bytes = sum(p.numel() * p.element_size() for p in CNN.build().parameters())
    batches: dict[str, int | None] = {"captum default (all rows)": None}
    for budget in (512 << 20, 32 << 20):  # quick's budget, and a tight one
        plan = choose_batch(parameter_bytes, 28 * 28 * 4, budget, samples_per_call=1)
        batches[f"{budget >> 20} MiB -> {plan.internal_batch_size} rows"] = plan.internal_batch_size
    print(f"\nIntegratedGradients, {samples} digits x 50 steps = {rows} rows per attribution:")
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for name, batch in batches.items():
            seconds, peak = pool.apply(_ig_child, (batch, samples))
            print(f"  {name:>26}: {seconds:.2f} s, peak RSS +{peak / 2**20:.0f} MiB")
    assert all(b is None or b < rows for b in batches.values())
