"""The audit's stages, and the one place each plugs in: ``STAGES``.

A stage is a function from the ``AuditContext`` (everything the stages before it made) to
its section of the result. A stage that cannot finish raises ``StageError``; the audit goes
on, records the section as ``failed`` and exits 1. Any other exception is a bug and stops
the audit with nothing written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from harness.core.errors import StageError
from harness.core.result import SECTION_TYPES, Section
from harness.stages.context import AuditContext

__all__ = ["STAGES", "AuditContext", "Stage", "run_stage"]

log = logging.getLogger(__name__)


Stage = Callable[[AuditContext], Section]


# Each stage package is imported when its stage runs, and its ``run`` imports the stage's
# modules only then, so ``--help`` and a skipped stage never pay for torch, Captum or the
# profiler.
def _efficiency(context: AuditContext) -> Section:
    from harness.stages import efficiency

    return efficiency.run(context)


def _explanations(context: AuditContext) -> Section:
    from harness.stages import explanations

    return explanations.run(context)


def _attention(context: AuditContext) -> Section:
    from harness.stages import attention

    return attention.run(context)


# Stage name (= its result section) -> the function that fills it, in running order.
STAGES: dict[str, Stage] = {
    "efficiency": _efficiency,
    "explanations": _explanations,
    "attention": _attention,
}


def run_stage(name: str, context: AuditContext) -> Section:
    section_type = SECTION_TYPES[name]
    if name in context.config.skip:
        skipped: Section = section_type(status="skipped", reason="skipped by --skip")
        return skipped
    try:
        return STAGES[name](context)
    except StageError as exc:
        log.warning("stage %s failed: %s", name, exc)
        failed: Section = section_type(status="failed", reason=str(exc))
        return failed
