"""The ``explanations`` stage: attribute, score, sanity-check, compare.

    subject, samples    the attributed input and N samples (plan.py)
    setup               backends, target, baseline, batching (setup.py, backends.py)
    per method          attribute (timed, halving the batch on out-of-memory), the scorecard
                        (scoring.py), the randomisation test (sanity.py)
    beside them         the random-attribution baseline, scored alike; the agreement matrix

A method that cannot apply is ``skipped`` with the reason, one that raises ``failed`` with
its error, and so is one whose attributions no metric could score (every metric that ran
failed: a model that returns NaN on perturbed inputs); the stage fails only when every
method that ran failed. The work is planned (plan.py, timing.py: the same for the same model,
seed and budget); every method's attributions come before any scorecard; the budget's
seconds are a deadline that only stops an overrun, marking what it stopped ``incomplete``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from harness.core.errors import StageError, first_line
from harness.core.explanations import Agreement, ExplanationsSection, MethodResult
from harness.explainers import metrics
from harness.explainers.methods.base import (
    AttributionOutput,
    AttributionRequest,
    Explainer,
    MethodNotApplicableError,
)
from harness.explainers.methods.batching import with_oom_halving
from harness.stages.context import AuditContext
from harness.stages.explanations.backends import Backend
from harness.stages.explanations.budget import BUDGETS
from harness.stages.explanations.display import shown_attributions, shown_inputs
from harness.stages.explanations.plan import (
    PlannedMethod,
    choose_subject,
    gather_samples,
    plan_methods,
)
from harness.stages.explanations.sanity import sanity_check
from harness.stages.explanations.scorecard_plan import (
    MethodWork,
    ScorecardPlan,
    plan_scorecards,
    shared_rows,
)
from harness.stages.explanations.scoring import (
    failed_everywhere,
    finite,
    score,
    skipped,
    unscored_reason,
)
from harness.stages.explanations.setup import Setup, prepare
from harness.stages.explanations.timing import (
    Clock,
    DeadlineReached,
    WorkMeter,
    guarded,
    row_seconds,
)

__all__ = ["attribution_request", "explanations_stage"]

log = logging.getLogger(__name__)

Explain = Callable[..., torch.Tensor]


# Of the stage's deadline, the share the methods' attributions may take, split evenly
# among those still to run: the safety net that keeps every method's attributions before
# any method's scorecard.
ATTRIBUTION_SHARE = 0.5


@dataclass(frozen=True, eq=False)
class _Attributed:
    """One method's finished attributions, waiting for their scorecard."""

    planned: PlannedMethod
    explainer: Explainer
    request: AttributionRequest
    backend: Backend
    output: AttributionOutput
    halvings: int
    attributions: torch.Tensor
    rows: int  # forward rows the attribution took (the plan's count of its work)

    def work(self, samples: int) -> MethodWork:
        return MethodWork(
            self.rows / max(1, samples), self.planned.cls.needs_gradients, self.backend.layers_total
        )


def explanations_stage(context: AuditContext) -> ExplanationsSection:
    budget = BUDGETS[context.config.budget]
    clock = Clock(budget.seconds)
    subject = choose_subject(context)
    if isinstance(subject, str):
        return ExplanationsSection(status="skipped", reason=subject)
    samples = gather_samples(context, subject, context.config.samples or budget.samples)
    context.progress.advance(
        0, f"preparing {samples.count} samples of {subject.modality} (twin conversion, parity)"
    )
    started = time.perf_counter()
    # --threads binds torch too: the pipeline sets it for the whole audit process.
    setup = prepare(context, budget, subject, samples, clock)
    # Setup (twin conversion, parity, probes) is bounded by its own work; the methods'
    # deadline counts from here, so a slow setup never skips every method.
    clock.restart()
    return _explain(setup, {"setup": round(time.perf_counter() - started, 3)})


def _explain(setup: Setup, timing: dict[str, float]) -> ExplanationsSection:
    backends, config = setup.backends, setup.context.config
    gradients = backends.gradients
    planned = plan_methods(
        config.explainers,
        config.budget,
        setup.subject.modality,
        has_gradients=gradients is not None,
        no_gradients_reason=backends.no_gradients,
        has_layer=gradients is not None and gradients.layer is not None,
    )
    runnable = sum(1 for m in planned if m.skip is None)
    pool = ATTRIBUTION_SHARE * setup.budget.seconds
    per_method = pool / max(1, runnable)
    progress = setup.context.progress
    batch = setup.batch.internal_batch_size
    progress.plan(
        2 * runnable,
        "step",
        f"{runnable} methods x (attribution, scorecard) on {setup.samples.count} samples, "
        f"batch {batch}",
    )
    step = 0
    # Every method's attributions first, then every scorecard: a slow scorecard never costs
    # a later method its attributions. What a quick method leaves of its share goes on.
    first: list[MethodResult | _Attributed] = []
    for method in planned:
        allowance = max(0.0, pool) / max(1, runnable)
        if method.skip is None:
            # The plan allots the attributions `pool` seconds in all; the scorecards follow.
            progress.advance(step, f"{method.name}: attributions{_on(setup, method)}", pool)
            step += 1
        started = time.perf_counter()
        first.append(_attribute_method(setup, method, allowance))
        if method.skip is None:
            pool -= time.perf_counter() - started
            runnable -= 1
    results: list[MethodResult] = []
    kept: dict[str, torch.Tensor] = {}
    attributed = [a for a in first if isinstance(a, _Attributed)]
    plans = _scorecard_plans(setup, attributed)
    waiting = len(attributed)
    for outcome in first:
        if isinstance(outcome, MethodResult):
            results.append(outcome)
            continue
        timing[f"{outcome.planned.name}.attribution"] = round(outcome.output.seconds, 3)
        # The scorecards' bound is the budget's remaining time, shared at run time:
        # the pace so far estimates the time left better than the nominal plan seconds.
        progress.advance(
            step, f"{outcome.planned.name}: scorecard and sanity check on {outcome.backend.name}"
        )
        step += 1
        # The random baseline comes last and gets a share of the time like a method.
        setup.clock.begin_part(
            setup.clock.share(waiting + 1), f"{outcome.planned.name}'s scorecard"
        )
        waiting -= 1
        try:
            result, attributions = _scored(setup, outcome, plans[outcome.planned.name])
        finally:
            setup.clock.end_part()
        results.append(result)
        if attributions is not None:
            kept[result.name] = attributions
    ran = [r for r in results if r.status != "skipped"]
    if ran and all(r.status == "failed" for r in ran):
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in ran)
        raise StageError(f"every attribution method failed ({reasons})")
    notes = [f"samples: {setup.samples.source}", *setup.samples.notes]
    notes.extend(failed_everywhere([r.metrics for r in ran if r.status == "ok"]))
    if config.target is not None and setup.kind == "reconstruction":
        notes.append(f"--target {config.target} ignored: {setup.target.description}")
    return ExplanationsSection(
        status="ok" if ran else "skipped",
        reason=None if ran else "no attribution method can run on this model (see methods)",
        modality=setup.subject.modality,
        samples=setup.samples.count,
        target=setup.target.description,
        target_kind=setup.choice.kind,
        output_kind=setup.choice.output_kind,
        baseline=setup.baseline.description,
        batching=setup.batching_record(),
        conversion=backends.conversion,
        methods=tuple(results),
        random_baseline=_random_baseline(setup),
        agreement=_agreement(kept, setup),
        attributed_input=setup.subject.attributed,
        inputs=shown_inputs(
            setup.scoring.x,
            setup.samples.labels,
            setup.samples.truth,
            setup.subject.modality,
            setup.budget.shown,
        ),
        notes=tuple(notes),
        plan=_plan_record(setup, per_method, plans),
        timing=timing,
    )


def _on(setup: Setup, method: PlannedMethod) -> str:
    """`` on twin`` or `` on onnxruntime``: the backend a planned method will run on."""
    backends = setup.backends
    backend = backends.gradients if method.cls.needs_gradients else backends.reference
    return f" on {backend.name}" if backend is not None else ""


def _scorecard_plans(setup: Setup, attributed: list[_Attributed]) -> dict[str, ScorecardPlan]:
    """Each attributed method's scorecard depth (scorecard_plan.py): what the attributions
    and the random baseline's scorecard leave of the budget, in nominal seconds of counted
    rows, never a timing."""
    samples = setup.samples.count
    seconds = row_seconds(setup.row_flops)
    floats = setup.scoring.is_float
    works = {a.planned.name: a.work(samples) for a in attributed}
    spent = sum(w.forwards_per_sample for w in works.values()) * samples * seconds
    random_baseline = shared_rows(setup.budget, samples, floats) * seconds
    return plan_scorecards(
        works,
        setup.budget,
        samples=samples,
        floats=floats,
        row_seconds=seconds,
        pool_seconds=setup.budget.seconds - spent - random_baseline,
    )


def _plan_record(
    setup: Setup, per_method: float, plans: dict[str, ScorecardPlan]
) -> dict[str, str | int | float]:
    """The work the stage planned: what the budget, the model and its inputs fix (never a
    timing), each scorecard's depth, and the deadlines that only stop an overrun."""
    b = setup.budget
    scorecards: dict[str, str | int | float] = {}
    for name, plan in plans.items():
        layers = plan.mprt_layers
        scorecards[f"{name}.mprt_layers"] = layers if layers is not None else "every layer"
        scorecards[f"{name}.sensitivity_perturbations"] = plan.sensitivity_perturbations
        scorecards[f"{name}.sensitivity_samples"] = plan.sensitivity_samples
        scorecards[f"{name}.scorecard_nominal_seconds"] = plan.seconds
        if plan.cut:
            scorecards[f"{name}.cut"] = plan.cut
    return {
        "budget": setup.context.config.budget,
        "samples": setup.samples.count,
        "n_steps": b.n_steps,
        "mprt_layers": b.mprt_layers if b.mprt_layers is not None else "every layer",
        "sensitivity_perturbations": b.sensitivity_perturbations,
        "sensitivity_samples": setup.scoring.sensitivity_count,
        "infidelity_perturbations": b.infidelity_perturbations,
        "faithfulness_subsets": b.faithfulness_subsets,
        "curve_steps": b.curve_steps,
        "order": "every method's attributions, then each method's scorecard and sanity check",
        "deadline_seconds": b.seconds,
        "attribution_deadline_seconds": round(per_method, 3),
        "row_flops": setup.row_flops,
        **scorecards,
    }


# --- one method ---------------------------------------------------------------------------


def _attribute_method(
    setup: Setup, planned: PlannedMethod, seconds: float
) -> MethodResult | _Attributed:
    """PLANNED's attributions within ``seconds`` (the safety net: past it, ``incomplete``),
    or why there are none."""
    if planned.skip is not None:
        return MethodResult(planned.name, "skipped", reason=planned.skip)
    cls = planned.cls
    backend = setup.backends.gradients if cls.needs_gradients else setup.backends.reference
    assert backend is not None  # plan_methods skipped the gradient methods without one
    explainer = cls(**_budget_parameters(cls, setup))
    meter = WorkMeter()
    request = attribution_request(setup, cls, backend, meter)
    setup.clock.begin_part(seconds, f"{planned.name}'s attribution")
    try:
        output, halvings = _attribute(explainer, request)
    except DeadlineReached as exc:
        why = first_line(exc)
        return MethodResult(planned.name, "incomplete", reason=why, backend=backend.name)
    except MethodNotApplicableError as exc:
        return MethodResult(planned.name, "skipped", reason=first_line(exc))
    except Exception as exc:
        log.warning("%s failed: %s", planned.name, first_line(exc), exc_info=True)
        return MethodResult(planned.name, "failed", reason=first_line(exc), backend=backend.name)
    finally:
        setup.clock.end_part()
    attributions = output.attributions.detach().cpu()
    if not torch.isfinite(attributions).all():
        why = "the attributions hold NaN or infinite values"
        return MethodResult(planned.name, "failed", reason=why, backend=backend.name)
    return _Attributed(
        planned, explainer, request, backend, output, halvings, attributions, meter.rows
    )


def _scored(
    setup: Setup, done: _Attributed, plan: ScorecardPlan
) -> tuple[MethodResult, torch.Tensor | None]:
    """The scorecard and the sanity check of one method's attributions, as deep as PLAN."""
    name, cls, backend = done.planned.name, done.planned.cls, done.backend
    explain = _sensitivity_explain(setup, done.explainer, done.request, plan)
    card = score(
        setup.scoring,
        done.attributions,
        explain=explain,
        perturbations=plan.sensitivity_perturbations,
        multiplies_by_inputs=cls.multiplies_by_inputs,
        has_delta=cls.has_convergence_delta,
        group_reduce="sum" if cls.needs_gradients else "mean",
        sensitivity_samples=plan.sensitivity_samples,
    )
    unscored = unscored_reason(card)
    if unscored is not None:  # nothing says whether to trust them: not an "ok" method
        log.warning("%s failed: %s", name, unscored)
        failed = MethodResult(
            name, "failed", reason=unscored, backend=backend.name, metrics=card.metrics
        )
        return failed, None
    if plan.mprt_layers == 0:
        sanity, mprt = None, skipped("mprt", False, f"not planned: {plan.cut}")
    else:
        sanity, mprt = sanity_check(setup, done.explainer, done.request, backend, plan.mprt_layers)
    result = MethodResult(
        name=name,
        status="ok",
        backend=backend.name,
        parameters=_record({**done.output.parameters, "oom_halvings": done.halvings}),
        seconds=done.output.seconds,
        metrics=(*card.metrics, mprt),
        curves=card.curves,
        sanity=sanity,
        ground_truth=card.ground_truth,
        attributions=shown_attributions(
            done.attributions, setup.targets(), setup.subject.modality, setup.budget.shown
        ),
    )
    return result, done.attributions


def _record(parameters: dict[str, Any]) -> dict[str, str | int | float]:
    """Parameters as the result holds them: a flag (``abs=True``) as 0 or 1."""
    return {k: int(v) if isinstance(v, bool) else v for k, v in parameters.items()}


def _budget_parameters(cls: type[Explainer], setup: Setup) -> dict[str, int]:
    return {"n_steps": setup.budget.n_steps} if "n_steps" in cls.DEFAULTS else {}


def attribution_request(
    setup: Setup, cls: type[Explainer], backend: Backend, meter: WorkMeter | None = None
) -> AttributionRequest:
    """What the stage hands CLS for the audit's samples on BACKEND (the benchmarks time the
    same request); METER counts the rows its forward is called on."""
    inputs = setup.inputs
    if cls.needs_gradients:
        # Hooks on a branch fed only by another float input (DeepLift, GuidedBackprop) need
        # it to carry gradients too: the twin's weights do not.
        inputs = (inputs[0], *(_differentiable(t) for t in inputs[1:]))
    blocks = not cls.needs_gradients and setup.subject.modality == "image"
    return AttributionRequest(
        forward=guarded(setup.wrap(backend.forward), setup.clock, meter),
        inputs=inputs,
        target=setup.target.target,
        baseline=setup.baseline.tensor,
        modality=setup.subject.modality,
        seed=setup.context.config.seed,
        internal_batch_size=setup.batch.internal_batch_size,
        perturbations_per_eval=setup.batch.perturbations_per_eval,
        layer=backend.layer,
        # Superpixel blocks on images; one feature per token or element elsewhere.
        feature_mask=setup.scoring.feature_mask if blocks else None,
    )


def _differentiable(tensor: torch.Tensor) -> torch.Tensor:
    if not tensor.is_floating_point():
        return tensor
    return tensor.detach().clone().requires_grad_(True)


def _attribute(explainer: Explainer, request: AttributionRequest) -> tuple[AttributionOutput, int]:
    """The attributions, halving the batch on out-of-memory; (output, halvings)."""
    if explainer.needs_gradients:
        retry = with_oom_halving(
            lambda b: explainer.attribute(replace(request, internal_batch_size=b)),
            request.internal_batch_size or 1,
        )
    else:
        retry = with_oom_halving(
            lambda b: explainer.attribute(replace(request, perturbations_per_eval=b)),
            request.perturbations_per_eval,
        )
    return retry.value, retry.halvings


def _sensitivity_explain(
    setup: Setup, explainer: Explainer, request: AttributionRequest, plan: ScorecardPlan
) -> Explain | str:
    """``explain(x, target=t)`` for max-sensitivity on the plan's first k samples, or why
    none: the metric hands over those samples, each repeated once per perturbation."""
    if not setup.scoring.x.is_floating_point():
        return "token ids cannot move by a small radius; not applicable"
    if plan.sensitivity_perturbations == 0:
        return f"not planned: {plan.cut}"
    k = plan.sensitivity_samples

    def explain(x: torch.Tensor, target: Any = None) -> torch.Tensor:
        reps = max(1, x.shape[0] // k)
        others = tuple(o[:k].repeat_interleave(reps, 0) for o in request.inputs[1:])
        moved = replace(
            request,
            inputs=(x, *others),
            baseline=request.baseline[:k].repeat_interleave(reps, 0),
            target=target if target is not None else request.target,
        )
        return explainer.attribute(moved).attributions

    return explain


# --- beside the methods -------------------------------------------------------------------


def _random_baseline(setup: Setup) -> MethodResult:
    """Uniform random attributions, scored like a method: what chance scores."""
    s = setup.scoring
    seed = setup.context.config.seed
    attributions = metrics.random_attributions(torch.zeros(s.x.shape), seed=seed)
    draw = metrics.random_explainer(seed=seed + 1)
    explain: Explain | str = (
        (lambda x, **_: draw(x))
        if s.x.is_floating_point()
        else "token ids cannot move by a small radius; not applicable"
    )
    card = score(
        s,
        attributions,
        explain=explain,
        perturbations=setup.budget.sensitivity_perturbations,
        multiplies_by_inputs=False,
        has_delta=False,
        group_reduce="sum",
    )
    mprt = skipped(
        "mprt", False, "random attributions do not depend on the model: nothing to randomise"
    )
    return MethodResult(
        name="random",
        status="ok",
        backend="none",
        parameters={"distribution": "uniform(-1, 1)", "seed": seed},
        metrics=(*card.metrics, mprt),
        curves=card.curves,
        ground_truth=card.ground_truth,
    )


def _agreement(attributions: dict[str, torch.Tensor], setup: Setup) -> Agreement | None:
    if len(attributions) < 2:
        return None
    try:
        result = metrics.agreement(attributions, feature_mask=setup.scoring.feature_mask)
    except Exception as exc:
        log.warning("agreement failed: %s", first_line(exc))
        return None

    def matrix(rows: tuple[tuple[float, ...], ...]) -> tuple[tuple[float | None, ...], ...]:
        return tuple(tuple(finite(v) for v in row) for row in rows)

    return Agreement(
        methods=result.names,
        spearman=matrix(result.spearman),
        top_k_overlap=matrix(result.top_k_overlap),
        top_k_fraction=float(result.parameters["top_k_fraction"]),
    )
