"""The scorecard of one set of attributions: every metric, read against the same samples,
target, baseline and forward (the model itself: its module or its onnxruntime session).

    infidelity, max-sensitivity     float inputs only (token ids take no Gaussian noise)
    faithfulness correlation        random feature subsets set to the baseline
    deletion / insertion            curves and AUCs; softmax and normalised by f(x) for
                                    classifiers, raw scores for regressors and autoencoders
    completeness                    methods with a convergence delta
    sparseness, complexity          the attributions alone
    ground truth                    AUROC and top-k precision, when the task has masks

On images the perturbation metrics remove superpixel blocks (the perturbation methods'
feature mask), so every method is scored on the same features. A metric that cannot apply
is a ``MetricScore`` with value None and ``{"skipped": why}``; one that raises, with
``{"failed": the error}``; one the deadline stopped, with ``{"incomplete": why}`` (partial
work is never a score). Neither stops the scorecard.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from harness.core.errors import first_line
from harness.core.explanations import Curve, GroundTruthScore, MetricScore
from harness.explainers import metrics
from harness.explainers.metrics import MetricResult
from harness.stages.explanations.budget import ExplanationsBudget
from harness.stages.explanations.timing import Clock, DeadlineReached

__all__ = ["Scorecard", "Scoring", "failed_everywhere", "finite", "score", "unscored_reason"]

log = logging.getLogger(__name__)

Explain = Callable[..., torch.Tensor]
GroupReduce = Literal["sum", "mean"]
Extra = dict[str, str | int | float]


@dataclass(frozen=True, eq=False)
class Scoring:
    """What every method is scored against."""

    forward: Callable[..., torch.Tensor]  # the attributed scalar's forward (reference backend)
    x: torch.Tensor
    others: tuple[torch.Tensor, ...]
    target: torch.Tensor | int
    baseline: torch.Tensor
    modality: str
    classification: bool  # softmax + normalised curves; raw scores otherwise
    feature_mask: torch.Tensor | None  # superpixel blocks on images
    truth: np.ndarray | None
    valid: np.ndarray | None  # features that count for ground truth (non-padding tokens)
    budget: ExplanationsBudget
    seed: int
    clock: Clock  # a metric that would start after the deadline is skipped

    @property
    def sensitivity_count(self) -> int:
        """Max-sensitivity re-runs the method: on the first this many samples."""
        return min(self.budget.sensitivity_samples, int(self.x.shape[0]))

    @property
    def is_float(self) -> bool:
        return self.x.is_floating_point()


@dataclass(frozen=True)
class Scorecard:
    metrics: tuple[MetricScore, ...]
    curves: tuple[Curve, ...]
    ground_truth: GroundTruthScore | None


def score(
    s: Scoring,
    attributions: torch.Tensor,
    *,
    explain: Explain | str,
    perturbations: int,
    multiplies_by_inputs: bool,
    has_delta: bool,
    group_reduce: GroupReduce,
    sensitivity_samples: int | None = None,
) -> Scorecard:
    """Every metric of ``attributions``; ``explain(x, target=t)`` re-attributes
    ``perturbations`` perturbed copies of each of the first ``sensitivity_samples`` inputs
    (None: the budget's) for max-sensitivity (a string: why it cannot)."""
    attr = attributions.detach().cpu()
    count = s.sensitivity_count if sensitivity_samples is None else sensitivity_samples
    results: list[MetricScore] = [
        _infidelity(s, attr, multiplies_by_inputs),
        _sensitivity(s, explain, perturbations, count),
        _run(s, "faithfulness_correlation", True, lambda: _faithfulness(s, attr, group_reduce)),
    ]
    curves = []
    for name in ("deletion", "insertion"):
        outcome = _attempt(s, f"{name}_auc", functools.partial(_curve, s, attr, name, group_reduce))
        results.append(_as_score(f"{name}_auc", name == "insertion", outcome))
        if isinstance(outcome, MetricResult):
            curve = _curve_record(name, outcome)
            if curve is not None:
                curves.append(curve)
    results.extend(_completeness(s, attr, has_delta))
    mask = s.feature_mask
    results.append(
        _run(
            s,
            "sparseness",
            True,
            lambda: metrics.sparseness(attr, feature_mask=mask, group_reduce=group_reduce),
        )
    )
    results.append(
        _run(
            s,
            "complexity",
            False,
            lambda: metrics.complexity(attr, feature_mask=mask, group_reduce=group_reduce),
        )
    )
    return Scorecard(tuple(results), tuple(curves), _ground_truth(s, attr))


def _infidelity(s: Scoring, attr: torch.Tensor, multiplies_by_inputs: bool) -> MetricScore:
    if not s.is_float:
        return skipped(
            "infidelity",
            False,
            "token ids take no Gaussian noise; infidelity would need the model run from "
            "its embeddings",
        )
    noise = 0.1 * _spread(s.x, "std")
    return _run(
        s,
        "infidelity",
        False,
        lambda: metrics.infidelity(
            s.forward,
            s.x,
            attr.to(s.x.dtype),
            s.target,
            noise_std=noise,
            n_perturb_samples=s.budget.infidelity_perturbations,
            multiply_by_inputs=multiplies_by_inputs,
            additional_forward_args=s.others,
            seed=s.seed,
        ),
        extra={"noise_std_rule": "0.1 x the samples' std"},
    )


def _sensitivity(s: Scoring, explain: Explain | str, perturbations: int, count: int) -> MetricScore:
    if not s.is_float:
        return skipped(
            "max_sensitivity", False, "token ids cannot move by a small radius; not applicable"
        )
    if isinstance(explain, str):
        return skipped("max_sensitivity", False, explain)
    radius = 0.02 * _spread(s.x, "range")
    target = s.target[:count] if isinstance(s.target, torch.Tensor) else s.target
    return _run(
        s,
        "max_sensitivity",
        False,
        lambda: metrics.max_sensitivity(
            explain,
            s.x[:count],
            target,
            radius=radius,
            n_perturb_samples=perturbations,
            seed=s.seed,
        ),
        extra={"radius_rule": "0.02 x the samples' value range", "samples": count},
    )


def _faithfulness(s: Scoring, attr: torch.Tensor, group_reduce: GroupReduce) -> MetricResult:
    return metrics.faithfulness_correlation(
        s.forward,
        s.x,
        attr,
        s.target,
        baseline=s.baseline,
        n_subsets=s.budget.faithfulness_subsets,
        feature_mask=s.feature_mask,
        group_reduce=group_reduce,
        additional_forward_args=s.others,
        seed=s.seed,
    )


def _curve(s: Scoring, attr: torch.Tensor, name: str, group_reduce: GroupReduce) -> MetricResult:
    function = metrics.deletion if name == "deletion" else metrics.insertion
    return function(
        s.forward,
        s.x,
        attr,
        s.target,
        baseline=s.baseline,
        steps=s.budget.curve_steps,
        use_softmax=s.classification,
        normalise=s.classification,
        feature_mask=s.feature_mask,
        group_reduce=group_reduce,
        additional_forward_args=s.others,
        seed=s.seed,
    )


def _completeness(s: Scoring, attr: torch.Tensor, has_delta: bool) -> list[MetricScore]:
    if not has_delta:
        why = "the method makes no completeness claim (no convergence delta)"
        return [skipped("completeness", False, why)]

    def gap(relative: bool) -> MetricResult:
        return metrics.completeness(
            s.forward,
            s.x,
            attr,
            s.target,
            baseline=s.baseline,
            relative=relative,
            additional_forward_args=s.others,
        )

    return [
        _run(s, "completeness", False, lambda: gap(False)),
        _run(s, "completeness_relative", False, lambda: gap(True)),
    ]


def _ground_truth(s: Scoring, attr: torch.Tensor) -> GroundTruthScore | None:
    if s.truth is None:
        return None
    try:
        auroc = metrics.ground_truth_auroc(attr, s.truth, valid=s.valid)
        top_k = metrics.top_k_precision(attr, s.truth, valid=s.valid)
    except Exception as exc:
        log.warning("ground truth scoring failed: %s", first_line(exc))
        return None
    return GroundTruthScore(
        auroc=finite(auroc.value), top_k_precision=finite(top_k.value), samples=auroc.n_defined
    )


def _curve_record(name: str, result: MetricResult) -> Curve | None:
    auc = finite(result.value)
    if auc is None or result.curve is None:
        return None
    return Curve(
        name="deletion" if name == "deletion" else "insertion",
        fractions=tuple(x for x, _ in result.curve),
        scores=tuple(y for _, y in result.curve),
        auc=auc,
    )


@dataclass(frozen=True)
class _NotRun:
    key: str  # "skipped", "failed" or "incomplete" (the deadline stopped it)
    why: str


def _attempt(s: Scoring, name: str, compute: Callable[[], MetricResult]) -> MetricResult | _NotRun:
    """The metric's result; or, when the deadline stopped its forwards, why it is
    incomplete; or the first line of what it raised (a metric that fails must not stop
    the others: the scorecard says so)."""
    try:
        # No check here: the deadline stops metrics that run the model (their forward is
        # guarded); sparseness and complexity read the attributions alone and always finish.
        return compute()
    except DeadlineReached as exc:  # partial work is no score: say what stopped it
        return _NotRun("incomplete", first_line(exc))
    except Exception as exc:
        log.warning("metric %s failed: %s", name, first_line(exc), exc_info=log.isEnabledFor(10))
        return _NotRun("failed", first_line(exc))


def _as_score(
    name: str,
    higher_is_better: bool,
    outcome: MetricResult | _NotRun,
    extra: Extra | None = None,
) -> MetricScore:
    if isinstance(outcome, _NotRun):
        return MetricScore(name, None, higher_is_better, {outcome.key: outcome.why})
    return to_score(outcome, {**outcome.parameters, **(extra or {})})


def _run(
    s: Scoring,
    name: str,
    higher_is_better: bool,
    compute: Callable[[], MetricResult],
    extra: Extra | None = None,
) -> MetricScore:
    return _as_score(name, higher_is_better, _attempt(s, name, compute), extra)


def unscored_reason(card: Scorecard) -> str | None:
    """Why no metric of CARD gave a finite score although one ran: the failures (a model
    that returns NaN or infinite scores on perturbed inputs fails every metric that runs
    it); None when one scored, or when none ran (past the deadline, or none applies)."""
    if any(m.value is not None for m in card.metrics):
        return None
    failures = [m for m in card.metrics if _failed(m)]
    if not failures:
        return None
    first = failures[0]
    return (
        f"no metric gave a finite score: {len(failures)} failed, {first.name} with "
        f"'{first.parameters['failed']}'"
    )


def failed_everywhere(cards: list[tuple[MetricScore, ...]]) -> list[str]:
    """One note per metric that failed on every one of CARDS (the methods that ran), with
    its first error: what the audit could not measure at all, said once."""
    if not cards:
        return []
    notes = []
    for first in cards[0]:
        same = [next((m for m in card if m.name == first.name), None) for card in cards]
        if all(m is not None and _failed(m) for m in same):
            notes.append(f"{first.name} failed for every method: {first.parameters['failed']}")
    return notes


def _failed(metric: MetricScore) -> bool:
    return "failed" in metric.parameters


def to_score(result: MetricResult, parameters: Extra) -> MetricScore:
    return MetricScore(
        name=result.name,
        value=finite(result.value),
        higher_is_better=result.higher_is_better,
        parameters=parameters,
        per_sample=tuple(finite(v) for v in result.per_sample),
    )


def skipped(name: str, higher_is_better: bool, why: str) -> MetricScore:
    return MetricScore(name, None, higher_is_better, {"skipped": why})


def finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _spread(x: torch.Tensor, kind: str) -> float:
    values = x.detach().double()
    spread = float(values.std()) if kind == "std" else float(values.max() - values.min())
    return spread if math.isfinite(spread) and spread > 0 else 1.0
