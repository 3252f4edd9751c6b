"""The gate's judge: CURRENT against BASE, the verdicts turned into an exit code.

Two ways to get the two sides:

- two ``result.json`` files (the default): their headline metrics, from one backend run
  each (``--run``, or ``@RUN`` on a check; the first run by default), and the differences
  between the environments they were measured in;
- ``--ab BASE.onnx CANDIDATE.onnx``: both models measured now, interleaved in one process,
  so there is no environment to differ. The gate measures nothing itself: the command
  (``harness.commands.gate``) times the models and hands their metrics over as a
  ``Measurement``, so judging never loads a model and stays reproducible from its inputs.

Use it in two steps: ``plan_gate(request)`` checks the flags, reads the policy and (in file
mode) both results, so every usage error comes before a measurement starts; then
``judge(plan, measurement)`` decides.

Exit code: 1 if any check regressed (or, with ``--strict-env``, the environments differ);
else 4 if any check is inconclusive and inconclusive fails; else 0. Improvements never fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from harness.core.comparison import (
    DEFAULT_AB_CHECKS,
    DEFAULT_ALPHA,
    DEFAULT_CHECKS,
    Check,
    CheckOutcome,
    Verdict,
    decide_by_run,
    parse_check,
)
from harness.core.environment_diff import EnvDifference, environment_differences
from harness.core.errors import ExitCode, UsageError
from harness.core.headline import Metric, available_runs, headline_metrics
from harness.core.model_identity import ModelIdentity, require_same_model
from harness.core.result import AuditResult
from harness.gate.checks import (
    CheckSpec,
    InconclusivePolicy,
    Policy,
    build_checks,
    flag_specs,
    load_policy,
)

__all__ = ["GatePlan", "GateRequest", "GateResult", "Measurement", "judge", "plan_gate"]

Metrics = Mapping[str, Metric]
T = TypeVar("T")


@dataclass(frozen=True)
class GateRequest:
    """Everything ``harness gate`` was asked, as flags give it."""

    base: Path
    current: Path
    checks: tuple[str, ...] = ()  # "NAME[@RUN]:THRESHOLD"
    policy: Path | None = None
    run: str | None = None  # "torch/cpu", "torch"; None: each result's first run
    alpha: float | None = None  # None: the policy's, else DEFAULT_ALPHA
    inconclusive: InconclusivePolicy | None = None  # None: the policy's, else "fail"
    strict_env: bool = False
    ab: bool = False  # BASE and CURRENT are .onnx files measured now
    budget: str | None = None  # --ab only; None: "standard"
    threads: int | None = None  # --ab only
    allow_different_models: bool = False  # judge results of two different models anyway


@dataclass(frozen=True)
class GateResult:
    outcomes: tuple[CheckOutcome, ...]
    environment: tuple[EnvDifference, ...]
    alpha: float
    inconclusive: InconclusivePolicy
    strict_env: bool
    compared: str  # what was compared with what, in words
    different_models: bool = False  # allowed by --allow-different-models; every line says so

    @property
    def mark(self) -> str:
        """What every table line and verdict line carries when the models differ."""
        return " (different models)" if self.different_models else ""

    def with_verdict(self, verdict: Verdict) -> tuple[CheckOutcome, ...]:
        return tuple(o for o in self.outcomes if o.verdict == verdict)

    @property
    def failing_environment(self) -> tuple[EnvDifference, ...]:
        return self.environment if self.strict_env else ()

    @property
    def exit_code(self) -> ExitCode:
        if self.with_verdict("regression") or self.failing_environment:
            return ExitCode.CHECK_FAILED
        if self.with_verdict("inconclusive") and self.inconclusive == "fail":
            return ExitCode.INCONCLUSIVE
        return ExitCode.OK

    @property
    def summary(self) -> str:
        """One line: the verdict, how many checks caused it, and what else is worth a look."""
        return self._summary() + self.mark

    def _summary(self) -> str:
        total = len(self.outcomes)
        regressions = len(self.with_verdict("regression"))
        inconclusive = len(self.with_verdict("inconclusive"))
        env = ", ".join(d.field for d in self.failing_environment)
        env_note = f"environment differs under --strict-env ({env})" if env else ""
        if regressions:
            head = f"gate: REGRESSION ({regressions} of {_checks_text(total)})"
            return f"{head}; {env_note}" if env_note else head
        if env_note:
            return f"gate: FAIL, {env_note}"
        if inconclusive and self.inconclusive == "fail":
            return f"gate: INCONCLUSIVE ({inconclusive} of {_checks_text(total)})"
        notes = [_checks_text(total)] + [
            f"{count} {label}"
            for label, count in (
                ("improved", len(self.with_verdict("improvement"))),
                ("inconclusive, allowed by --inconclusive pass", inconclusive),
                ("missing", len(self.with_verdict("missing"))),
            )
            if count
        ]
        return f"gate: PASS ({', '.join(notes)})"


def _checks_text(count: int) -> str:
    return f"{count} check" if count == 1 else f"{count} checks"


@dataclass(frozen=True)
class Measurement:
    """Both models' metrics from one A/B measurement, as the command measured them."""

    base: Metrics
    current: Metrics
    protocol: str  # how they were measured, in words


@dataclass(frozen=True)
class GatePlan:
    """A request whose flags are checked, with its checks' specs and, in file mode, both
    results: all ``judge`` needs besides an A/B measurement."""

    request: GateRequest
    policy: Policy | None
    specs: tuple[CheckSpec, ...]
    results: tuple[AuditResult, AuditResult] | None  # (base, current); None with --ab
    # How the two results' models relate; None with --ab, whose two models are meant to
    # differ (a candidate against its base) and are not results.
    identity: ModelIdentity | None = None


@dataclass(frozen=True)
class _Sides:
    """The metrics of both sides, by run (None: the default run), and how they came."""

    metrics: Mapping[str | None, tuple[Metrics, Metrics]]
    environment: tuple[EnvDifference, ...]
    compared: str


def plan_gate(request: GateRequest) -> GatePlan:
    """Check REQUEST's flags and read what it names; raises the usage error a bad flag,
    policy or result deserves before anything is measured."""
    if request.alpha is not None and not 0 < request.alpha < 1:
        raise UsageError(f"--alpha {request.alpha:g} is not between 0 and 1; try 0.01")
    if not request.ab and (request.budget is not None or request.threads is not None):
        raise UsageError("--budget and --threads set how --ab measures; add --ab or drop them")
    policy = load_policy(request.policy) if request.policy else None

    def specs_for(model: str) -> tuple[CheckSpec, ...]:
        return (policy.specs_for(model) if policy else ()) + flag_specs(request.checks)

    if request.ab:
        specs = specs_for(request.current.stem)
        _check_ab(request, specs)
        return GatePlan(request, policy, specs, None)
    base = AuditResult.read(request.base, "BASE")
    current = AuditResult.read(request.current, "CURRENT")
    identity = require_same_model(
        base, current, allow=request.allow_different_models, labels=("BASE", "CURRENT")
    )
    specs = specs_for(current.model.name)
    return GatePlan(request, policy, specs, (base, current), identity)


def judge(plan: GatePlan, measurement: Measurement | None = None) -> GateResult:
    """Judge PLAN's checks on its two results, or with --ab on MEASUREMENT."""
    request, policy = plan.request, plan.policy
    sides = _sides(plan, measurement)
    checks = _checks(plan.specs, sides, DEFAULT_AB_CHECKS if request.ab else DEFAULT_CHECKS)
    alpha = _first(request.alpha, policy.alpha if policy else None) or DEFAULT_ALPHA
    inconclusive: InconclusivePolicy = (
        _first(request.inconclusive, policy.inconclusive if policy else None) or "fail"
    )
    outcomes = _decide(checks, sides, alpha, separate_runs=not request.ab)
    different = plan.identity is not None and plan.identity.different
    if different:
        outcomes = tuple(replace(o, reason=f"{o.reason} (different models)") for o in outcomes)
    return GateResult(
        outcomes=outcomes,
        environment=sides.environment,
        alpha=alpha,
        inconclusive=inconclusive,
        strict_env=request.strict_env,
        compared=sides.compared + _identity_note(plan.identity),
        different_models=different,
    )


def _identity_note(identity: ModelIdentity | None) -> str:
    """How the two models relate, said wherever the gate says what it compared."""
    if identity is None or identity.relation == "same file":
        return ""
    if identity.different:
        return f"; DIFFERENT MODELS ({identity.why}), judged under --allow-different-models"
    return f"; the same model from another file ({identity.why})"


def _sides(plan: GatePlan, measurement: Measurement | None) -> _Sides:
    request = plan.request
    if request.ab:
        if measurement is None:
            raise ValueError("--ab: judge() needs the measurement of both models")
        compared = f"{request.current} against {request.base}, {measurement.protocol}"
        return _Sides({None: (measurement.base, measurement.current)}, (), compared)
    assert plan.results is not None  # plan_gate reads both results in file mode
    return _compare_results(request, plan.specs, *plan.results)


def _compare_results(
    request: GateRequest, specs: Sequence[CheckSpec], base: AuditResult, current: AuditResult
) -> _Sides:
    runs = {_spec_run(spec) for spec in specs} | {None}
    for run in sorted(r for r in runs if r is not None):
        _require_run(run, base, current, f"@{run}")
    if request.run is not None:
        _require_run(request.run, base, current, "--run")
    metrics = {
        run: (
            headline_metrics(base, run or request.run),
            headline_metrics(current, run or request.run),
        )
        for run in runs
    }
    environment = environment_differences(base, current)
    chosen = (_run_of(base, request.run), _run_of(current, request.run))
    if None not in chosen and chosen[0] != chosen[1]:
        environment += (EnvDifference("backend run", str(chosen[0]), str(chosen[1])),)
    # Said on every file-mode table: the gate cannot see how far the machine moved between
    # the two audits (README, "How often it is wrong"), only --ab can cancel it.
    compared = (
        f"{request.current} against {request.base} (two separate runs: drift between them "
        "is not in their samples; --ab times both models together)"
    )
    return _Sides(metrics, environment, compared)


def _check_ab(request: GateRequest, specs: Sequence[CheckSpec]) -> None:
    """What --ab cannot do, refused before the (long) measurement starts."""
    if request.run is not None or any(_spec_run(spec) for spec in specs):
        raise UsageError(
            "--ab measures one backend run of each model; drop --run and any @RUN in checks"
        )
    for path in (request.base, request.current):
        if path.suffix == ".json":
            raise UsageError(f"--ab compares two .onnx models, got '{path}'; drop --ab")


def _checks(
    specs: Sequence[CheckSpec], sides: _Sides, defaults: Sequence[str]
) -> tuple[Check, ...]:
    base_names = {name for base, _ in sides.metrics.values() for name in base}
    current_names = {name for _, current in sides.metrics.values() for name in current}
    directions = {
        name: metric.lower_is_better
        for pair in sides.metrics.values()
        for metrics in pair
        for name, metric in metrics.items()
    }
    checks = build_checks(
        specs, directions, base_names=base_names, current_names=current_names, defaults=defaults
    )
    if not checks:
        shown = ", ".join(sorted(base_names | current_names)[:8]) or "none"
        raise UsageError(
            "no check applies to these results (no default metric is in both, and no pattern "
            f"matched); name metrics with --check, e.g. from: {shown}"
        )
    return checks


def _decide(
    checks: Sequence[Check], sides: _Sides, alpha: float, *, separate_runs: bool
) -> tuple[CheckOutcome, ...]:
    """One decision over every check, whatever its run, so Holm sees the whole family;
    two results' samples are separate runs, an A/B measurement's are interleaved calls."""
    base = {run: pair[0] for run, pair in sides.metrics.items()}
    current = {run: pair[1] for run, pair in sides.metrics.items()}
    return decide_by_run(base, current, checks, alpha=alpha, separate_runs=separate_runs)


def _spec_run(spec: CheckSpec) -> str | None:
    try:
        return parse_check(spec.text).run
    except UsageError as exc:
        raise UsageError(f"{spec.origin}: {exc}") from None


def _run_of(result: AuditResult, wanted: str | None) -> str | None:
    """The run key headline_metrics picks for WANTED, or None when there is none."""
    for key in available_runs(result):
        if wanted is None or wanted in (key, key.split("/")[0]):
            return key
    return None


def _require_run(run: str, base: AuditResult, current: AuditResult, where: str) -> None:
    if _run_of(base, run) is None and _run_of(current, run) is None:
        shown = sorted(set(available_runs(base)) | set(available_runs(current)))
        raise UsageError(
            f"{where}: neither result has a {run!r} run; available: {', '.join(shown) or 'none'}"
        )


def _first(flag: T | None, policy: T | None) -> T | None:
    """A flag's value, else the policy's."""
    return flag if flag is not None else policy
