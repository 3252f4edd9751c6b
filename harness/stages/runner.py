"""The audit's stages, and the one place each plugs in: ``STAGES``.

A stage is a function from the ``AuditContext`` (everything the stages before it made) to
its section of the result. A stage that cannot finish raises ``StageError``; the audit goes
on, records the section as ``failed`` and exits 1. Any other exception (not the harness's
own errors, not running out of memory) is a bug in that stage: its section is ``failed``
with a reason starting ``INTERNAL_FAILURE``, the other stages still run and the result is
written (finished stages are never thrown away), and the audit exits 3 so CI still sees a
bug (``is_internal_failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from harness.core.errors import HarnessError, StageError, first_line, is_out_of_memory
from harness.core.result import SECTION_TYPES, Section
from harness.stages.context import AuditContext

__all__ = [
    "INTERNAL_FAILURE",
    "STAGES",
    "AuditContext",
    "Stage",
    "is_internal_failure",
    "run_stage",
]

# The start of a section's reason when the stage raised a bug, not a StageError.
INTERNAL_FAILURE = "internal error in the "

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


def _privacy(context: AuditContext) -> Section:
    from harness.stages import privacy

    return privacy.run(context)


# Stage name (= its result section) -> the function that fills it, in running order.
STAGES: dict[str, Stage] = {
    "efficiency": _efficiency,
    "explanations": _explanations,
    "attention": _attention,
    "privacy": _privacy,
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
    except (HarnessError, MemoryError):
        raise  # the user's input or the machine: the CLI's exit 2 or its one line
    except Exception as exc:
        if is_out_of_memory(exc):  # torch's, a RuntimeError: the machine, not a bug
            raise
        # A bug, but the finished stages' sections are kept: the audit writes its result
        # and exits 3 (the traceback is logged for --debug).
        log.error("stage %s raised a bug", name, exc_info=True)
        reason = (
            f"{INTERNAL_FAILURE}{name} stage: {type(exc).__name__}: {first_line(exc, 300)} "
            "(a bug in the harness; rerun with --debug)"
        )
        broken: Section = section_type(status="failed", reason=reason)
        return broken


def is_internal_failure(section: Section) -> bool:
    """Whether ``section`` failed on a bug in its stage (the audit exits 3)."""
    return section.status == "failed" and (section.reason or "").startswith(INTERNAL_FAILURE)
