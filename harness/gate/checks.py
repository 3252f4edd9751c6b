"""What the gate checks: ``--check`` flags and a ``--policy`` TOML file, turned into checks.

A check is ``NAME[@RUN]:THRESHOLD`` (``harness.core.comparison.parse_check``): a headline
metric name (``harness.core.headline``) or a glob pattern over them
(``explanations.*.sanity``), optionally a backend run, and how far the metric may move the
bad way: ``5%`` of the base, or an absolute amount such as ``0.1``.

A policy file holds the checks a CI job applies to many models::

    alpha = 0.01                 # optional: significance level (default 0.01)
    inconclusive = "fail"        # optional: "fail" (exit 4) or "pass" (exit 0)
    [checks]                     # defaults for every model
    "latency.p50" = "5%"
    "throughput.max" = "-5%"     # a drop of 5%; the sign may only say "down is bad"
    "explanations.*.sanity" = 0.1
    [models.cnn_digits.checks]   # matched against the result's model.name; overrides
    "latency.p50" = "10%"

Checks are applied in order: the policy's ``[checks]``, its ``[models.<name>.checks]``,
then ``--check`` flags; a later check on the same metric and run replaces an earlier one.
``--alpha`` and ``--inconclusive`` override the file's values. With no check at all the
gate uses ``DEFAULT_CHECKS`` (``DEFAULT_AB_CHECKS`` with ``--ab``), keeping only the
metrics both sides hold.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.core.comparison import DEFAULT_CHECKS, Check, expand_checks, parse_check
from harness.core.config import read_toml
from harness.core.errors import UsageError

__all__ = [
    "CheckSpec",
    "InconclusivePolicy",
    "Policy",
    "build_checks",
    "check_known",
    "flag_specs",
    "load_policy",
]

InconclusivePolicy = Literal["fail", "pass"]

_POLICY_KEYS = ("alpha", "inconclusive", "checks", "models")
_PATTERN_CHARS = "*?["


@dataclass(frozen=True)
class CheckSpec:
    """One check as written, and where it was written (for error messages)."""

    text: str  # "latency.p50:5%"
    origin: str  # "--check", "policy 'gate.toml' [checks]"


@dataclass(frozen=True)
class Policy:
    path: Path
    alpha: float | None = None
    inconclusive: InconclusivePolicy | None = None
    checks: tuple[CheckSpec, ...] = ()
    models: Mapping[str, tuple[CheckSpec, ...]] = field(default_factory=dict)

    def specs_for(self, model: str) -> tuple[CheckSpec, ...]:
        """The default checks followed by MODEL's own, which override them."""
        return self.checks + self.models.get(model, ())


def flag_specs(texts: Iterable[str] | None) -> tuple[CheckSpec, ...]:
    return tuple(CheckSpec(text, "--check") for text in texts or ())


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; every mistake is a one-line ``UsageError``."""
    data = read_toml(path, "policy", "--policy")
    where = f"policy '{path}'"
    _refuse_unknown(data, _POLICY_KEYS, where)
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise UsageError(f"{where}: 'models' must be tables, e.g. [models.cnn_digits.checks]")
    return Policy(
        path=path,
        alpha=_policy_alpha(data.get("alpha"), where),
        inconclusive=_policy_inconclusive(data.get("inconclusive"), where),
        checks=_table_specs(data.get("checks", {}), f"{where} [checks]"),
        models={name: _model_specs(name, table, where) for name, table in models.items()},
    )


def build_checks(
    specs: Sequence[CheckSpec],
    lower_is_better: Mapping[str, bool],
    *,
    base_names: Iterable[str],
    current_names: Iterable[str],
    defaults: Sequence[str] = DEFAULT_CHECKS,
) -> tuple[Check, ...]:
    """Parse SPECS (DEFAULTS when empty) and expand their patterns.

    LOWER_IS_BETTER (metric -> direction) lets a wrong sign err; BASE_NAMES and
    CURRENT_NAMES are the metrics each result holds: a named metric neither holds is an
    error, a default check is kept only when both hold its metric.
    """
    base, current = set(base_names), set(current_names)
    known = base | current
    if not specs:
        parsed = [parse_check(text, lower_is_better) for text in defaults]
        return tuple(c for c in parsed if c.metric in base and c.metric in current)
    checks = [_parse_spec(spec, lower_is_better, known) for spec in specs]
    return expand_checks(checks, known)


def check_known(check: Check, names: Iterable[str], origin: str) -> None:
    """Refuse a check that names (not patterns) a metric that is not in NAMES."""
    if _is_pattern(check.metric):
        return
    available = sorted(set(names))
    if check.metric in available:
        return
    close = [n for n in available if n.split(".")[0] == check.metric.split(".")[0]]
    shown = ", ".join((close or available)[:8]) or "none"
    raise UsageError(
        f"{origin} {check.text!r}: neither result holds metric {check.metric!r}; "
        f"available: {shown} (see README 'Regression gate' for every name)"
    )


def _parse_spec(spec: CheckSpec, lower_is_better: Mapping[str, bool], known: set[str]) -> Check:
    try:
        check = parse_check(spec.text)
        directions = dict(lower_is_better)
        if _is_pattern(check.metric):
            matched = fnmatch.filter(sorted(lower_is_better), check.metric)
            directions[check.metric] = any(lower_is_better[name] for name in matched)
        check = parse_check(spec.text, directions)
    except UsageError as exc:
        raise UsageError(f"{spec.origin}: {exc}") from None
    check_known(check, known, spec.origin)
    return check


def _is_pattern(metric: str) -> bool:
    return any(ch in metric for ch in _PATTERN_CHARS)


def _refuse_unknown(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; allowed here: {', '.join(allowed)}")


def _policy_alpha(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise UsageError(f"{where}: alpha = {value!r}; write a number between 0 and 1, e.g. 0.01")
    return float(value)


def _policy_inconclusive(value: Any, where: str) -> InconclusivePolicy | None:
    if value is None:
        return None
    if value == "fail":
        return "fail"
    if value == "pass":
        return "pass"
    raise UsageError(f'{where}: inconclusive = {value!r}; write "fail" or "pass"')


def _model_specs(name: str, table: Any, where: str) -> tuple[CheckSpec, ...]:
    if not isinstance(table, dict):
        raise UsageError(f"{where}: models.{name} must be a table with a [models.{name}.checks]")
    _refuse_unknown(table, ("checks",), f"{where} [models.{name}]")
    return _table_specs(table.get("checks", {}), f"{where} [models.{name}.checks]")


def _table_specs(table: Any, where: str) -> tuple[CheckSpec, ...]:
    if not isinstance(table, dict):
        raise UsageError(f'{where} must be a table of "metric" = threshold entries')
    specs = []
    for metric, threshold in table.items():
        if ":" in metric:
            raise UsageError(
                f"{where}: key {metric!r} holds a ':'; write the threshold as the value: "
                f'"{metric.split(":")[0]}" = "5%"'
            )
        spec = CheckSpec(f"{metric}:{_threshold_text(metric, threshold, where)}", where)
        try:
            parse_check(spec.text)  # the syntax now; the sign once the metrics are known
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        specs.append(spec)
    return tuple(specs)


def _threshold_text(metric: str, value: Any, where: str) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return repr(value)
    raise UsageError(
        f'{where}: "{metric}" = {value!r} is not a threshold; write "5%" (relative) '
        "or a number such as 0.1 (absolute)"
    )
