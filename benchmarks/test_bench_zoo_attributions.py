"""Each attribution method, one call, on the zoo's digits CNN and its trigger Transformer.

    test_bench_zoo_attribution[<model>-<method>]          e.g. [cnn-integrated_gradients]

    model    ``cnn`` (image) and ``transformer`` (token ids), their committed ONNX files
    method   every method in the registry (``explainers.methods.registry.METHODS``); one
             that does not apply to the model is skipped with the reason the audit records
             (``plan_methods``: the registry's capability flags, the twin, the layer)

The request is the one the explanations stage builds
(``harness.stages.explanations.setup.prepare``):
the task's first test sample, its predicted class, the modality's baseline and batching;
gradient methods run on the ONNX file's PyTorch twin, perturbation methods on its
onnxruntime session, one thread each. Settings are small (``SMALL``: a few path steps, a
few draws) so one round stays well under a second; the sampling methods (``HEAVY``) are
marked ``heavy``. The timed call is ``Explainer.attribute`` alone: no scoring, no sanity
checks (backends compared, and IG's batching, are in test_bench_explanations.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from harness.core.config import AuditConfig
from harness.explainers.methods.base import AttributionRequest, Explainer
from harness.explainers.methods.registry import METHODS
from harness.intake.inputs import resolve_inputs
from harness.intake.loader import load_model, summarize_model
from harness.models import get_reference
from harness.stages.context import AuditContext
from harness.stages.explanations import BUDGETS
from harness.stages.explanations.plan import (
    PlannedMethod,
    choose_subject,
    gather_samples,
    plan_methods,
)
from harness.stages.explanations.setup import Setup, prepare
from harness.stages.explanations.stage import attribution_request
from harness.stages.explanations.timing import Clock

MODELS = ("cnn", "transformer")
SAMPLES = 1
# Per method, what keeps one call small; every other parameter keeps its default.
SMALL: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"n_steps": 8},
    "layer_integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 4},
    "noise_tunnel": {"nt_samples": 2, "n_steps": 4},
    "shapley_value_sampling": {"n_samples": 1},
    "kernel_shap": {"n_samples": 16},
    "lime": {"n_samples": 16},
}
HEAVY = frozenset({"noise_tunnel", "shapley_value_sampling", "kernel_shap", "lime"})

CASES = [
    pytest.param(
        model,
        method,
        id=f"{model}-{method}",
        marks=[pytest.mark.heavy] if method in HEAVY else [],
    )
    for model in MODELS
    for method in METHODS
]


class _Setups:
    """Each model's explanations setup (backends, twin, target, baseline), built on first use."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._built: dict[str, tuple[Setup, dict[str, PlannedMethod]]] = {}

    def get(self, model: str) -> tuple[Setup, dict[str, PlannedMethod]]:
        if model not in self._built:
            self._built[model] = self._build(model)
        return self._built[model]

    def _build(self, model: str) -> tuple[Setup, dict[str, PlannedMethod]]:
        path = get_reference(model).onnx_path
        config = AuditConfig(
            model=str(path), device="cpu", threads=self.threads, budget="quick", samples=SAMPLES
        )
        loaded = load_model(config)
        context = AuditContext(
            config, loaded, summarize_model(loaded), resolve_inputs(loaded, config), "cpu"
        )
        subject = choose_subject(context)
        assert not isinstance(subject, str), subject
        budget = BUDGETS[config.budget]
        samples = gather_samples(context, subject, SAMPLES)
        setup = prepare(context, budget, subject, samples, Clock(budget.seconds))
        gradients = setup.backends.gradients
        planned = plan_methods(
            tuple(METHODS),
            config.budget,
            subject.modality,
            has_gradients=gradients is not None,
            no_gradients_reason=setup.backends.no_gradients,
            has_layer=gradients is not None and gradients.layer is not None,
        )
        return setup, {p.name: p for p in planned}


def _request(setup: Setup, cls: type[Explainer]) -> tuple[AttributionRequest, str]:
    """The stage's request for ``cls``, and the backend's name."""
    backend = setup.backends.gradients if cls.needs_gradients else setup.backends.reference
    assert backend is not None  # plan_methods skipped gradient methods without one
    return attribution_request(setup, cls, backend), backend.name


@pytest.fixture(scope="module")
def setups(one_torch_thread: int) -> _Setups:
    return _Setups(one_torch_thread)


@pytest.mark.parametrize(("model", "method"), CASES)
def test_bench_zoo_attribution(benchmark: Any, setups: _Setups, model: str, method: str) -> None:
    setup, planned = setups.get(model)
    if planned[method].skip is not None:
        pytest.skip(planned[method].skip)
    cls = METHODS[method]
    explainer = cls(**SMALL.get(method, {}))
    request, backend = _request(setup, cls)
    benchmark.group = f"zoo attribution: {model}"
    benchmark.extra_info.update(
        model=model,
        method=method,
        backend=backend,
        modality=setup.subject.modality,
        samples=setup.samples.count,
        threads=setups.threads,
        parameters=dict(explainer.parameters),
    )
    output = benchmark(explainer.attribute, request)
    assert output.attributions.shape == request.attributed.shape
    assert torch.isfinite(output.attributions).all()
