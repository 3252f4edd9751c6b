"""The sanity check of one method: model parameter randomisation (Adebayo et al. 2018),
cascading from the top layer, on the backend the method ran on.

    torch        the module's parameters, module by module (explainers.metrics.torch_cascade)
    twin         the twin's parameters and initializers, ONNX node by node (graph_cascade)
    onnxruntime  the graph's float initializers, node by node, a new session each step
                 (explainers.metrics.onnx_cascade)

Both the signed and the absolute similarity are recorded and both decide (pass: both below
the threshold; fail: both at or above; inconclusive: they disagree, see
explainers.metrics.randomisation). ``final_correlation`` shows the one that is usually the
more informative: signed for methods that multiply by (input - baseline), whose magnitudes
follow the input's, absolute otherwise. Input elements a method cannot attribute whatever
the weights are left out of the similarity: for perturbation methods, and for methods that
multiply by (input - baseline) without sampling, the elements equal to the baseline (they
get exactly zero, e.g. a black background under Occlusion). The depth is the plan's
(scorecard_plan.py: the budget's, shallower where re-running the method costs more than
the budget leaves; counted, never timed, so two audits run the same depth). A check the
plan made shallower passes as usual, but what would fail is ``inconclusive``: randomising
more layers only makes attributions less alike, so a deeper check could still pass. A
cascade the deadline stops keeps its finished steps and is ``inconclusive`` (k of n
layers), never a fail: findings and the gate skip it.
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
from harness.explainers.metrics.randomisation import sanity_reason
from harness.stages.explanations.backends import Backend
from harness.stages.explanations.cascades import limited
from harness.stages.explanations.scorecard_plan import planned_depth
from harness.stages.explanations.scoring import finite, to_score
from harness.stages.explanations.setup import Setup
from harness.stages.explanations.timing import DeadlineReached, guarded

__all__ = ["SANITY_THRESHOLD", "sanity_check", "unattributable"]

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
    layers: int | None,
) -> tuple[SanityCheck | None, MetricScore]:
    """The cascade's result over ``layers`` layers (None: every layer; the plan's depth,
    scorecard_plan.py), and the same as a metric for the scorecard."""
    absolute = not explainer.multiplies_by_inputs
    depth = planned_depth(layers, backend.layers_total)
    extra: dict[str, str | int | float] = {
        "depth_limit": depth if depth is not None else "every layer",
        "layers_total": backend.layers_total,
        "threshold": SANITY_THRESHOLD,
        "randomised": _RANDOMISED[backend.name],
    }

    def explain(state: Any) -> torch.Tensor:
        forward = backend.forward if state is backend.state else backend.rebuild(state)
        checked = guarded(setup.wrap(forward), setup.clock)  # the deadline reaches each step
        return explainer.attribute(replace(request, forward=checked)).attributions

    try:
        cascade = limited(backend.cascade(setup.context.config.seed), depth)
        result = metrics.mprt(
            explain,
            backend.state,
            cascade,
            absolute=absolute,
            feature_mask=setup.scoring.feature_mask,
            exclude=unattributable(explainer, request),
            interruptions=(DeadlineReached,),
        )
    except DeadlineReached as exc:  # before the first step: nothing randomised yet
        why = first_line(exc)
        return None, MetricScore("mprt", None, False, {"incomplete": why, **extra})
    except Exception as exc:
        log.warning("MPRT of %s failed: %s", explainer.NAME, first_line(exc))
        return None, MetricScore("mprt", None, False, {"failed": first_line(exc), **extra})
    verdict = metrics.sanity_verdict(result, SANITY_THRESHOLD)
    done = [name for name in str(result.parameters["layers"]).split(",") if name]
    planned = depth if depth is not None else backend.layers_total
    reason = sanity_reason(result, SANITY_THRESHOLD)
    intended = planned_depth(setup.budget.mprt_layers, backend.layers_total)
    if verdict == "fail" and _shallower(planned, intended):
        # Randomising more layers only makes attributions less alike: a pass at a cut
        # depth stands, a fail does not.
        verdict = "inconclusive"
        similarity = finite(result.value)
        shown = f"{similarity:.3g}" if similarity is not None else "undefined"
        reason = (
            f"still similar (Spearman {shown}) after {len(done)} of the "
            f"{intended} layers the budget randomises: the plan cut the depth to fit the "
            "budget and a deeper check may pass (pass a larger --budget)"
        )
    if verdict == "inconclusive" and reason is None:
        reason = (
            f"{len(done)} of {planned} planned layers randomised before "
            f"{result.parameters.get('interrupted', 'the deadline')}"
        )
    sanity = SanityCheck(
        layers=tuple(done),
        correlations=tuple(finite(y) for _, y in result.curve or ()),
        final_correlation=finite(result.value),
        threshold=SANITY_THRESHOLD,
        passed=verdict == "pass",
        layers_total=backend.layers_total,
        absolute=absolute,
        status=verdict,  # type: ignore[arg-type]
        layers_planned=planned,
        reason=reason,
        signed_correlation=_optional(result.parameters.get("signed_correlation")),
        absolute_correlation=_optional(result.parameters.get("absolute_correlation")),
        excluded_features=_optional_count(result.parameters.get("excluded_features")),
    )
    parameters = {**result.parameters, **extra, "layers_done": len(done)}
    if verdict == "inconclusive":
        # No score: a partial cascade (what was done instead), or signed and absolute
        # disagreeing (no one number stands for the method).
        partial = not int(result.parameters.get("complete", 1))
        parameters["incomplete" if partial else "inconclusive"] = reason or "interrupted"
        return sanity, MetricScore("mprt", None, False, parameters)
    return sanity, to_score(result, parameters)


def _shallower(planned: int | None, intended: int | None) -> bool:
    """Whether the plan's depth stops short of the budget's (None: every layer)."""
    if planned is None:
        return False
    return intended is None or planned < intended


def unattributable(explainer: Explainer, request: AttributionRequest) -> torch.Tensor | None:
    """True where the method gives the same attribution whatever the weights (the input
    equals the baseline), for the methods where that holds exactly: perturbation methods,
    and deterministic methods that multiply by (input - baseline). None for the others."""
    exact_zero = not explainer.needs_gradients or (
        explainer.multiplies_by_inputs and not explainer.is_stochastic
    )
    # A layer method's attributions have the input's shape only on token ids (summed over
    # the embedding), where a token equal to the baseline's has a zero embedding difference.
    if not exact_zero or (explainer.is_layer_method and request.modality != "tokens"):
        return None
    inputs = request.inputs[0]
    try:
        return (inputs == request.baseline.to(inputs.dtype)).expand_as(inputs)
    except RuntimeError:  # a baseline that does not broadcast: nothing to exclude safely
        return None


def _optional(value: object) -> float | None:
    return finite(float(value)) if isinstance(value, int | float) else None


def _optional_count(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None
