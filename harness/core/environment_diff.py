"""What differs between the machines and software two results were measured on.

A timing comparison across different CPUs, thread counts or runtime versions measures the
change of machine as much as the change of model; the gate prints these differences (and
``--strict-env`` fails on them), the compare report lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.result import AuditResult

__all__ = ["EnvDifference", "environment_differences"]


@dataclass(frozen=True)
class EnvDifference:
    field: str  # "cpu_model", "threads", "packages.onnxruntime", ...
    base: str
    current: str


def environment_differences(base: AuditResult, current: AuditResult) -> tuple[EnvDifference, ...]:
    """Every field of the measuring environment whose value differs, in a fixed order."""
    base_facts, current_facts = _facts(base), _facts(current)
    return tuple(
        EnvDifference(name, base_facts.get(name, "absent"), current_facts.get(name, "absent"))
        for name in sorted(base_facts.keys() | current_facts.keys(), key=_order)
        if base_facts.get(name) != current_facts.get(name)
    )


_LEADING = ("harness_version", "cpu_model", "logical_cores", "physical_cores", "threads")


def _order(name: str) -> tuple[int, str]:
    return (_LEADING.index(name) if name in _LEADING else len(_LEADING), name)


def _facts(result: AuditResult) -> dict[str, str]:
    env = result.environment
    facts = {
        "harness_version": result.harness_version,
        "cpu_model": env.cpu_model,
        "logical_cores": str(env.logical_cores),
        "physical_cores": str(env.physical_cores),
        "ram_bytes": str(env.ram_bytes),
        "gpus": ", ".join(gpu.name for gpu in env.gpus) or "none",
        "os": env.os,
        "python": env.python,
        "device": result.device,
        "threads": str(result.config.threads) if result.config.threads else "all cores",
        "onnxruntime_providers": ", ".join(env.onnxruntime_providers),
    }
    for package, version in env.packages.items():
        facts[f"packages.{package}"] = version or "not installed"
    return facts
