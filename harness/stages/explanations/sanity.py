"""The sanity check of one method: model parameter randomisation (Adebayo et al. 2018),
cascading from the top layer, on the backend the method ran on.

    torch        the module's parameters, module by module (explainers.metrics.torch_cascade)
    twin         the twin's parameters and initializers, ONNX node by node (graph_cascade)
    onnxruntime  the graph's float initializers, node by node, a new session each step
                 (explainers.metrics.onnx_cascade)

Methods that multiply by (input - baseline) are compared signed (``absolute=False``): their
magnitudes follow the input's, so |attr| correlates whatever the weights. The depth is the
budget's, cut to the steps that fit the method's share of the time left.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch

from harness.core.errors import first_line
from harness.core.explanations import MetricScore, SanityCheck
from harness.explainers import metrics
from harness.explainers.methods.base import AttributionRequest, Explainer
from harness.stages.explanations.backends import Backend
from harness.stages.explanations.cascades import limited
from harness.stages.explanations.scoring import finite, skipped, to_score
from harness.stages.explanations.setup import Setup
from harness.stages.explanations.timing import steps_that_fit

__all__ = ["SANITY_THRESHOLD", "sanity_check"]

log = logging.getLogger(__name__)

SANITY_THRESHOLD = 0.5  # a final Spearman correlation below this passes

_RANDOMISED = {
    "torch": "the module's parameters, module by module",
    "twin": "the twin's parameters and initializers, ONNX node by node",
    "onnxruntime": "the graph's float initializers, node by node (new sessions)",
}


def sanity_check(
    setup: Setup,
    explainer: Explainer,
    request: AttributionRequest,
    backend: Backend,
    *,
    attribution_seconds: float,
    allowance: float,
) -> tuple[SanityCheck | None, MetricScore]:
    """The cascade's result, and the same as a metric for the scorecard."""
    absolute = not explainer.multiplies_by_inputs
    wanted = setup.budget.mprt_layers
    depth = steps_that_fit(wanted, attribution_seconds, 0.5 * allowance)
    if depth == 0:
        why = (
            f"one randomisation step re-runs the method ({attribution_seconds:.3g} s) and "
            f"the time left for it is {allowance:.3g} s; pass --budget thorough"
        )
        return None, skipped("mprt", False, why)
    extra: dict[str, str | int | float] = {
        "depth_limit": depth if depth is not None else "every layer",
        "time_limited": int(depth is not None and depth < (wanted or backend.layers_total)),
        "layers_total": backend.layers_total,
        "threshold": SANITY_THRESHOLD,
        "randomised": _RANDOMISED[backend.name],
    }

    def explain(state: Any) -> torch.Tensor:
        forward = backend.forward if state is backend.state else backend.rebuild(state)
        return explainer.attribute(replace(request, forward=setup.wrap(forward))).attributions

    try:
        cascade = limited(backend.cascade(setup.context.config.seed), depth)
        result = metrics.mprt(
            explain,
            backend.state,
            cascade,
            absolute=absolute,
            feature_mask=setup.scoring.feature_mask,
        )
    except Exception as exc:
        log.warning("MPRT of %s failed: %s", explainer.NAME, first_line(exc))
        return None, MetricScore("mprt", None, False, {"failed": first_line(exc), **extra})
    sanity = SanityCheck(
        layers=tuple(str(result.parameters["layers"]).split(",")),
        correlations=tuple(finite(y) for _, y in result.curve or ()),
        final_correlation=finite(result.value),
        threshold=SANITY_THRESHOLD,
        passed=metrics.passes_sanity(result, SANITY_THRESHOLD),
        layers_total=backend.layers_total,
        absolute=absolute,
    )
    return sanity, to_score(result, {**result.parameters, **extra})
