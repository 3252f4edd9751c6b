"""What every stage receives: the config, the loaded model, its summary, the inputs fed,
and where to say how far it is (``harness.core.progress``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.config import AuditConfig
from harness.core.model import LoadedModel
from harness.core.progress import SILENT, StageProgress
from harness.core.result import ModelSummary
from harness.intake.inputs import ResolvedInputs
from harness.intake.membership import MembershipSets
from harness.runtime.device import Device

__all__ = ["AuditContext"]


@dataclass(frozen=True)
class AuditContext:
    config: AuditConfig
    model: LoadedModel
    summary: ModelSummary
    inputs: ResolvedInputs
    device: Device
    progress: StageProgress = field(default=SILENT, compare=False)
    # The privacy stage's records (harness.intake.membership), read during intake; None
    # with the reason when there are none (or the stage is skipped).
    membership: MembershipSets | None = None
    membership_missing: str | None = None
