"""The records the privacy stage attacks: training members and non-members, with labels.

Two sources, in this order:

    files  --members FILE --nonmembers FILE: ``.npz`` files keyed by the model's input
           names (records on the first axis), each optionally holding ``labels`` (one
           integer class per record); checked like ``--data`` (names, dtypes, ranks, fixed
           dims, finiteness, sizes against --max-input-bytes before anything is read)
    task   a zoo model (``ref:NAME``, or an ONNX file whose metadata names its reference
           model) whose task has a train split: the training records its recipe trains on
           are the members, the task's test split the non-members

Neither: ``None`` and the reason, in words; the stage is skipped with it. Read during intake
so that a bad file stops the audit at once (exit 2, nothing written), not after the other
stages' minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from harness.core.config import AuditConfig
from harness.core.errors import DataError
from harness.core.model import LoadedModel, TensorSpec
from harness.intake.data_file import read_data, validate_array
from harness.intake.dims import DimBinder
from harness.intake.sizes import InputBytes

__all__ = ["LABELS_KEY", "MIN_RECORDS", "MembershipSets", "read_membership"]

LABELS_KEY = "labels"  # the optional array of class labels in a members/non-members file
# Fewer records than this on a side and no AUC, CI or p-value means anything: refused.
MIN_RECORDS = 20


@dataclass(frozen=True, eq=False)
class MembershipSets:
    members: dict[str, np.ndarray]  # input name -> (N_members, ...) records
    nonmembers: dict[str, np.ndarray]
    member_labels: np.ndarray | None  # (N_members,) int64, or None when not given
    nonmember_labels: np.ndarray | None
    source: Literal["files", "task"]
    detail: str  # where the records came from, in words

    @property
    def member_count(self) -> int:
        return len(next(iter(self.members.values())))

    @property
    def nonmember_count(self) -> int:
        return len(next(iter(self.nonmembers.values())))


def read_membership(
    model: LoadedModel, config: AuditConfig
) -> tuple[MembershipSets | None, str | None]:
    """The records to attack, or (None, why there are none)."""
    if config.members is not None and config.nonmembers is not None:
        return _from_files(model, config.members, config.nonmembers, config), None
    return _from_zoo_task(model)


def _from_files(
    model: LoadedModel, members_path: Path, nonmembers_path: Path, config: AuditConfig
) -> MembershipSets:
    budget = InputBytes(config.max_input_bytes)
    members, member_labels = _read_records(model, members_path, "--members", budget)
    nonmembers, nonmember_labels = _read_records(model, nonmembers_path, "--nonmembers", budget)
    if (member_labels is None) != (nonmember_labels is None):
        having = "--members" if member_labels is not None else "--nonmembers"
        raise DataError(
            f"only {having} holds '{LABELS_KEY}'; give labels in both files (the loss "
            "attack compares the two sides) or in neither"
        )
    detail = (
        f"--members {members_path.name} ({_count(members)} records) and --nonmembers "
        f"{nonmembers_path.name} ({_count(nonmembers)} records)"
    )
    return MembershipSets(members, nonmembers, member_labels, nonmember_labels, "files", detail)


def _read_records(
    model: LoadedModel, path: Path, flag: str, budget: InputBytes
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    arrays = read_data(path, model.inputs, budget, flag=flag, optional=(LABELS_KEY,))
    binder = DimBinder()  # each file binds its own record count
    for spec in model.inputs:
        validate_array(_records_spec(spec), arrays[spec.name], binder, flag)
    counts = {spec.name: len(arrays[spec.name]) for spec in model.inputs}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"'{name}' {count}" for name, count in counts.items())
        raise DataError(
            f"{flag} {path.name}: inputs hold different numbers of records ({listed}); "
            "every input needs one row per record"
        )
    records = counts[model.inputs[0].name]
    if records < MIN_RECORDS:
        raise DataError(
            f"{flag} {path.name} holds {records} record(s); a membership test needs at least "
            f"{MIN_RECORDS} on each side, more for a tight interval (hundreds to thousands)"
        )
    labels = _labels(arrays.pop(LABELS_KEY, None), records, flag, path)
    return arrays, labels


def _records_spec(spec: TensorSpec) -> TensorSpec:
    """SPEC with its first axis free: a file holds as many records as it likes, even for a
    model declared with a fixed batch (the stage feeds it in chunks)."""
    if spec.rank == 0:
        return spec
    return TensorSpec(spec.name, spec.dtype, ("records", *spec.shape[1:]), spec.index_range)


def _labels(array: np.ndarray | None, records: int, flag: str, path: Path) -> np.ndarray | None:
    if array is None:
        return None
    if array.ndim != 1 or len(array) != records:
        raise DataError(
            f"{flag} {path.name}: '{LABELS_KEY}' has shape {array.shape}, expected ({records},): "
            "one class index per record"
        )
    if not np.issubdtype(array.dtype, np.integer) or (array.size and array.min() < 0):
        raise DataError(
            f"{flag} {path.name}: '{LABELS_KEY}' must hold non-negative integer class indices "
            f"(got {array.dtype}); cast with .astype(numpy.int64)"
        )
    return array.astype(np.int64)


def _from_zoo_task(model: LoadedModel) -> tuple[MembershipSets | None, str | None]:
    from harness.models import get_reference, reference_names
    from harness.models.tasks import load_task

    none_given = "no --members/--nonmembers given"
    name = _reference_name(model)
    if name is None or name not in reference_names():
        return None, (
            f"{none_given}, and the model is not a zoo model whose training records are "
            "known; pass --members FILE --nonmembers FILE to audit membership inference"
        )
    reference = get_reference(name)
    if reference.objective != "classification":
        return None, (
            f"{none_given}; zoo model '{name}' is not a classifier, and these attacks read "
            "class scores"
        )
    task = load_task(reference.task)
    trained_on = reference.train_config.max_train_samples
    members = {key: array[:trained_on] for key, array in task.train.items()}
    member_labels = task.y_train[:trained_on]
    detail = (
        f"zoo model '{name}': the {len(member_labels)} training records of task "
        f"'{task.name}' its recipe trains on are the members, the task's "
        f"{len(task.y_test)} test records the non-members"
    )
    sets = MembershipSets(members, task.test, member_labels, task.y_test, "task", detail)
    return sets, None


def _reference_name(model: LoadedModel) -> str | None:
    """The zoo model MODEL is: ``ref:NAME``, or the ONNX metadata the zoo's export writes."""
    if model.source.startswith("ref:"):
        return model.source.removeprefix("ref:")
    proto = model.onnx_proto
    if proto is None:
        return None
    props = {prop.key: prop.value for prop in proto.metadata_props}
    return props.get("harness.reference")


def _count(arrays: dict[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values())))
