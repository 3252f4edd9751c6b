"""Work units: the plan cut into pieces whose ids are hashes of their content.

A unit's id covers what decides its result and nothing else: the kind of work, the model
file's SHA-256 (or its ``ref:``/factory name), the settings that change measurements (not
``out``, ``quiet``, ``force``, ``fail_on``, the findings' thresholds or where the settings
came from), the dataset's hash and the shard's bounds, the method, the seed and the
harness's version. So the same plan gives the same ids on any machine, with any executor
and any number of workers, and a store keeps a finished unit for as long as its content
holds.

Kinds:

    intake        load, resolve inputs, one forward pass (efficiency skipped by the plan)
    efficiency    the same, then the efficiency stage: timed, so it runs with the machine
                  to itself (``exclusive``)
    explanations  the explanations stage over the model's samples
    attention     the attention stage
    privacy       the privacy stage (each stage after explanations is one unit of its own:
                  ``WHOLE_STAGES``)
    shard         one attribution method over samples [start, stop) of a dataset
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from harness._version import __version__
from harness.core.config import STAGE_NAMES, AuditConfig
from harness.core.errors import UsageError, shorten
from harness.core.serialize import to_jsonable
from harness.explainers.methods.base import Modality
from harness.scale.dataset import Dataset, load_dataset, shard_bounds
from harness.scale.plan import ScalePlan

__all__ = [
    "CutPlan",
    "UnitKind",
    "WorkUnit",
    "config_fingerprint",
    "cut_plan",
    "file_sha256",
    "planned_methods",
    "unit_id",
]

UnitKind = Literal["intake", "efficiency", "explanations", "attention", "privacy", "shard"]

# The stages after explanations, each audited whole by one unit of its own kind.
WHOLE_STAGES: tuple[str, ...] = tuple(
    name for name in STAGE_NAMES if name not in ("efficiency", "explanations")
)

# AuditConfig fields that never change what a unit measures: where it is written, how it
# talks, which verdicts fail, the findings' lines (applied when the units are aggregated)
# and where the settings came from. ``model`` and ``data`` enter the id by content.
_NOT_MEASURED = ("model", "out", "data", "quiet", "force", "fail_on", "findings", "sources")
_ID_HEX = 24  # 96 bits: no collision among any plan's units


@dataclass(frozen=True)
class WorkUnit:
    """One piece of a model's audit, runnable anywhere the model and data can be read."""

    kind: UnitKind
    model_name: str  # the plan's name for the model (its output folder)
    config: AuditConfig  # the model's settings as planned (the unit narrows them)
    model_hash: str  # sha256 of the model file, or the model's ref:/factory name
    method: str | None = None  # shard units: the attribution method
    shard: tuple[int, int] | None = None  # shard units: samples [start, stop)
    data_hash: str | None = None  # the hash of --data, or (shard units) of the dataset

    @property
    def id(self) -> str:
        return unit_id(self)

    @property
    def exclusive(self) -> bool:
        """Timed work: it must not share its machine's cores with other work."""
        return self.kind == "efficiency"

    @property
    def label(self) -> str:
        """How progress lines name it: ``cnn efficiency``, ``cnn occlusion 0-45``."""
        if self.shard is not None:
            return f"{self.model_name} {self.method} {self.shard[0]}-{self.shard[1]}"
        return f"{self.model_name} {self.kind}"

    def audit_config(self) -> AuditConfig:
        """The settings this unit audits with: every other stage skipped (a shard's data
        and method are set by the worker, which holds the shard's samples)."""
        runs = {"intake": (), "shard": ("explanations",)}.get(self.kind, (self.kind,))
        skip = tuple(name for name in STAGE_NAMES if name not in runs)
        config = replace(self.config, skip=skip, quiet=True, force=False, out=None)
        if self.method is not None:
            config = replace(config, explainers=(self.method,))
        return config


def unit_id(unit: WorkUnit) -> str:
    """The hash of everything that decides UNIT's result (see the module's docstring)."""
    content = {
        "harness": __version__,
        "kind": unit.kind,
        "model": unit.model_hash,
        "settings": config_fingerprint(unit.audit_config()),
        "data": unit.data_hash,
        "method": unit.method,
        "shard": list(unit.shard) if unit.shard is not None else None,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_ID_HEX]


def config_fingerprint(config: AuditConfig) -> dict[str, Any]:
    """CONFIG's settings that change measurements, as plain JSON (seed included)."""
    settings: dict[str, Any] = to_jsonable(config)
    for key in _NOT_MEASURED:
        settings.pop(key, None)
    return settings


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at PATH, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class CutPlan:
    """The plan's units in running order, and the datasets the shard units slice."""

    units: tuple[WorkUnit, ...]
    datasets: dict[str, Dataset]  # model name -> its dataset (samples = "all" only)

    def of_model(self, name: str) -> tuple[WorkUnit, ...]:
        return tuple(u for u in self.units if u.model_name == name)


def cut_plan(plan: ScalePlan) -> CutPlan:
    """PLAN's units: per model its intake (with efficiency, unless skipped), then its
    explanations (whole, or one unit per shard and method), then one unit per later stage
    (``WHOLE_STAGES``). A missing model file or --data is refused now, before any work."""
    units: list[WorkUnit] = []
    datasets: dict[str, Dataset] = {}
    for entry in plan.models:
        config = entry.config
        base = WorkUnit(
            kind="efficiency" if "efficiency" not in config.skip else "intake",
            model_name=entry.name,
            config=config,
            model_hash=_model_hash(config.model),
            data_hash=_data_hash(config.data),
        )
        units.append(base)
        if "explanations" not in config.skip:
            if entry.all_samples:
                dataset = load_dataset(config)
                datasets[entry.name] = dataset
                units.extend(_shard_units(base, dataset, plan.shard_size))
            else:
                units.append(replace(base, kind="explanations"))
        for stage in WHOLE_STAGES:
            if stage not in config.skip:
                units.append(replace(base, kind=stage))  # type: ignore[arg-type]
    return CutPlan(tuple(units), datasets)


def _shard_units(base: WorkUnit, dataset: Dataset, shard_size: int) -> list[WorkUnit]:
    """One unit per shard and method, shard by shard: the first shard's methods finish
    first, so a stopped run has whole shards to show."""
    return [
        replace(base, kind="shard", method=method, shard=bounds, data_hash=dataset.content_hash)
        for bounds in shard_bounds(dataset.count, shard_size)
        for method in planned_methods(base.config)
    ]


def planned_methods(config: AuditConfig) -> tuple[str, ...]:
    """The methods a dataset's shards run: --explainers, or the budget's default set for
    the modality of the model's attributed input."""
    from harness.explainers.methods.registry import check_method_names, default_methods

    if config.explainers:
        check_method_names(config.explainers)
        return config.explainers
    return tuple(default_methods(config.budget, _modality(config), has_gradients=True))


def _modality(config: AuditConfig) -> Modality:
    from harness.intake.loader import load_model

    first = load_model(config).inputs[0]
    if first.dtype.startswith(("int", "uint")):
        return "tokens"
    return "image" if len(first.shape) == 4 else "vector"


def _model_hash(model: str) -> str:
    from harness.intake.torch_model import FACTORY_PATTERN

    path = Path(model)
    if model.startswith("ref:") or (FACTORY_PATTERN.match(model) and not path.exists()):
        return model
    if not path.is_file():
        raise UsageError(f"model file '{shorten(model)}' does not exist; check the plan's model")
    return file_sha256(path)


def _data_hash(data: Path | None) -> str | None:
    if data is None:
        return None
    if not data.is_file():
        raise UsageError(f"--data file '{shorten(str(data))}' does not exist; check data = ...")
    return file_sha256(data)
