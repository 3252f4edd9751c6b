"""The units of one model -> its ``AuditResult``, the same bytes whoever ran the units.

The base is the model's intake unit (with its efficiency stage, when planned): the model,
its inputs, the machine, the efficiency section. The explanations and attention sections
come from their units; a dataset's explanations are merged from its shard units, sample
by sample (``merge_shards``). The verdict is judged again on the whole.

Deterministic by construction: units are read by id in the plan's order, never in the
order they finished, and the fields that only say how long this run took are left out or
fixed (the run record, ``STORE/runs/N.json``, keeps the wall times):

    created_at                 the store's creation time (``store_time``; SOURCE_DATE_EPOCH
                               pins it), not when a unit happened to run
    stage_seconds              {} (each unit's wall time is in the run record)
    explanations.timing        {}
    methods' seconds           None
    command                    the command that made the aggregate, as given
    config.out                 models/NAME, relative to the output folder
    environment                the intake unit's machine (where efficiency was measured),
                               with the driver's git state

The efficiency section's figures are measurements: two runs differ there as two audits
do, whichever executor ran them.

A unit that failed every attempt (or never ran) makes the result partial: its stage is
``failed`` with the unit's id and error, a shard's methods are ``incomplete`` with the
shards they lack, and the verdict is ``incomplete`` (``fail`` stays ``fail``), with the
missing units as its first deciding finding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.result import SECTION_TYPES, AuditResult, Section
from harness.core.verdict import DecidingFinding, Verdict, VerdictStatus
from harness.scale.merge import merge_shards
from harness.scale.plan import ModelEntry
from harness.scale.store import Store
from harness.scale.units import WHOLE_STAGES, CutPlan, WorkUnit

__all__ = ["PARTIAL_RULE", "MissingUnit", "ModelAggregate", "aggregate_model"]

PARTIAL_RULE = "scale.partial"


@dataclass(frozen=True)
class MissingUnit:
    unit: str
    label: str
    error: str  # the last attempt's error, or why it never ran


@dataclass(frozen=True)
class ModelAggregate:
    name: str
    result: AuditResult | None  # None: the model's intake unit never finished
    missing: tuple[MissingUnit, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.missing)


def aggregate_model(
    entry: ModelEntry, cut: CutPlan, store: Store, command: str | None
) -> ModelAggregate:
    """ENTRY's result from its units in STORE (see the module's docstring)."""
    units = cut.of_model(entry.name)
    results: dict[str, AuditResult] = {}
    missing: list[MissingUnit] = []
    alone = False
    for unit in units:
        record = store.read_unit(unit.id)
        loaded = _loaded(record)
        if loaded is None:
            missing.append(_missing(unit, store))
            continue
        results[unit.id] = loaded
        alone = alone or bool(unit.exclusive and record and record.get("ran_alone"))
    base_unit = units[0]
    base = results.get(base_unit.id)
    if base is None:
        return ModelAggregate(entry.name, None, tuple(missing))
    sections = _sections(entry, cut, units, results, missing)
    notes = _notes(units, results, base_unit, alone, missing)
    result = replace(
        base,
        created_at=store.created_at,
        config=replace(entry.config, out=Path("models") / entry.name),
        environment=_environment(base),
        command=command,
        stage_seconds={},
        notes=notes,
        **sections,  # type: ignore[arg-type]  # each built by its SECTION_TYPES class
    )
    return ModelAggregate(entry.name, _judged(result, missing), tuple(missing))


def _loaded(record: dict[str, Any] | None) -> AuditResult | None:
    if record is None or not isinstance(record.get("result"), dict):
        return None
    try:
        return AuditResult.from_dict(record["result"])
    except HarnessError:
        return None  # a damaged unit file counts as missing; the next run redoes it


def _missing(unit: WorkUnit, store: Store) -> MissingUnit:
    failure = store.read_failure(unit.id)
    if failure is not None:
        error = f"failed after {failure.get('attempts')} attempt(s): {failure.get('error')}"
    else:
        error = "not run (the run was stopped before it)"
    return MissingUnit(unit.id, unit.label, error)


def _sections(
    entry: ModelEntry,
    cut: CutPlan,
    units: tuple[WorkUnit, ...],
    results: dict[str, AuditResult],
    missing: list[MissingUnit],
) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    for stage in ("explanations", *WHOLE_STAGES):
        if stage in entry.config.skip:
            continue
        if stage == "explanations" and entry.all_samples:
            dataset = cut.datasets[entry.name]
            shards = [u for u in units if u.kind == "shard"]
            sections[stage] = merge_shards(shards, results, dataset, missing)
            continue
        unit = next(u for u in units if u.kind == stage)
        found = results.get(unit.id)
        sections[stage] = found.stage(stage) if found is not None else _failed(stage, unit, missing)
    if "explanations" in sections:
        sections["explanations"] = _without_wall_clock(sections["explanations"])
    return sections


def _failed(stage: str, unit: WorkUnit, missing: list[MissingUnit]) -> Section:
    why = next(m.error for m in missing if m.unit == unit.id)
    section: Section = SECTION_TYPES[stage](
        status="failed", reason=f"work unit {unit.id} ({unit.label}) {why}"
    )
    return section


def _without_wall_clock(section: Any) -> Any:
    """The explanations section without its wall times (they differ run to run)."""
    methods = tuple(replace(m, seconds=None) for m in section.methods)
    baseline = section.random_baseline
    if baseline is not None:
        baseline = replace(baseline, seconds=None)
    return replace(section, methods=methods, random_baseline=baseline, timing={})


def _environment(base: AuditResult) -> Any:
    from harness.runtime.environment import collect_environment

    here = collect_environment()
    return replace(base.environment, git_commit=here.git_commit, git_dirty=here.git_dirty)


def _notes(
    units: tuple[WorkUnit, ...],
    results: dict[str, AuditResult],
    base_unit: WorkUnit,
    alone: bool,
    missing: list[MissingUnit],
) -> tuple[str, ...]:
    notes: list[str] = []
    for unit in units:  # the plan's order, not the order the units finished
        found = results.get(unit.id)
        notes.extend(found.notes if found is not None else ())
    finished = len(units) - len(missing)
    notes.append(
        f"assembled from {finished} of {len(units)} work units (harness audit-many; ids in "
        "the store)"
    )
    if base_unit.exclusive and alone:
        notes.append(
            "efficiency was measured with no other work unit on its machine (an exclusive "
            "timing slot)"
        )
    for item in missing:
        notes.append(f"PARTIAL: work unit {item.unit} ({item.label}) {item.error}")
    return tuple(dict.fromkeys(notes))


def _judged(result: AuditResult, missing: list[MissingUnit]) -> AuditResult:
    from harness.reports.findings import verdict

    judged = verdict(result)
    if missing:
        title = (
            f"partial: {len(missing)} work unit(s) did not finish "
            f"({', '.join(m.label for m in missing[:3])}{' ...' if len(missing) > 3 else ''}); "
            "rerun the same command to finish them"
        )
        first = DecidingFinding("fail", PARTIAL_RULE, title)
        counts = {**judged.counts, "fail": judged.counts.get("fail", 0) + 1}
        status: VerdictStatus = "fail" if judged.status == "fail" else "incomplete"
        judged = Verdict(status, counts, (first, *judged.deciding))
    return replace(result, verdict=judged)
