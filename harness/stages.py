"""The audit's stages, and the one place each plugs in: ``STAGES``.

A stage is a function from the ``AuditContext`` (everything the stages before it made) to
its section of the result. A stage that cannot finish raises ``StageError``; the audit goes
on, records the section as ``failed`` and exits 1. Any other exception is a bug and stops
the audit with nothing written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from harness.core.config import AuditConfig
from harness.core.errors import StageError
from harness.core.model import LoadedModel
from harness.core.result import ModelSummary, StageSection
from harness.device import Device
from harness.inputs import ResolvedInputs

__all__ = ["STAGES", "AuditContext", "Stage", "run_stage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditContext:
    config: AuditConfig
    model: LoadedModel
    summary: ModelSummary
    inputs: ResolvedInputs
    device: Device


Stage = Callable[[AuditContext], StageSection]


def _not_implemented(context: AuditContext) -> StageSection:
    return StageSection(status="skipped", reason="not implemented")


# Stage name (= its result section) -> the function that fills it, in running order.
# Efficiency: issue "Efficiency profiler"; explanations: "Attributions that can be
# trusted"; attention: "Attention inspection".
STAGES: dict[str, Stage] = {
    "efficiency": _not_implemented,
    "explanations": _not_implemented,
    "attention": _not_implemented,
}


def run_stage(name: str, context: AuditContext) -> StageSection:
    if name in context.config.skip:
        return StageSection(status="skipped", reason="skipped by --skip")
    try:
        return STAGES[name](context)
    except StageError as exc:
        log.warning("stage %s failed: %s", name, exc)
        return StageSection(status="failed", reason=str(exc))
