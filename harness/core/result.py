"""``AuditResult``: the single contract between measuring and presenting.

Frozen dataclasses, serialised to versioned JSON (``schema_version``). Reports and the
gate read only this; a report can always be re-rendered from ``result.json`` alone.
The committed JSON Schema (``harness/core/schema/result.schema.json``) describes the
same shape; a test validates real results against it.

Changing the shape: bump ``SCHEMA_VERSION``, add a step to ``_MIGRATIONS`` that upgrades
the previous version's JSON, and update the schema file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from harness.core.attention import AttentionSection
from harness.core.config import STAGE_NAMES, AuditConfig
from harness.core.efficiency import EfficiencySection
from harness.core.errors import ResultFormatError, first_line
from harness.core.explanations import ExplanationsSection
from harness.core.model import ModelFormat, TensorSpec
from harness.core.privacy import NOT_RUN, PrivacySection
from harness.core.read_limits import MAX_RESULT_BYTES, FileTooLargeError, read_limited
from harness.core.result_checks import check_consistency
from harness.core.schema import load_result_schema
from harness.core.schema.validate import SchemaViolation, validate
from harness.core.serialize import from_jsonable, to_jsonable
from harness.core.verdict import Verdict

__all__ = [
    "SCHEMA_VERSION",
    "SECTION_TYPES",
    "STAGE_NAMES",
    "AuditResult",
    "Environment",
    "FedTensor",
    "GpuInfo",
    "InputsSection",
    "ModelSummary",
    "ObservedOutput",
    "StageSection",
    "migrate",
]

SCHEMA_VERSION = 2


StageStatus = Literal["ok", "skipped", "failed"]


class Section(Protocol):
    """What every stage section has, whatever else it measures."""

    @property
    def status(self) -> StageStatus: ...

    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_bytes: int | None


@dataclass(frozen=True)
class Environment:
    """The machine and software a result was measured on."""

    cpu_model: str
    physical_cores: int | None
    logical_cores: int
    ram_bytes: int
    gpus: tuple[GpuInfo, ...]
    os: str
    python: str
    packages: dict[str, str | None]  # distribution name -> version, None if not installed
    onnxruntime_providers: tuple[str, ...]
    git_commit: str | None  # of the working directory, when it is inside a git repository
    git_dirty: bool | None


@dataclass(frozen=True)
class ModelSummary:
    """What the model is, read from the file or the module without running it."""

    source: str
    name: str
    format: ModelFormat
    path: str | None
    file_bytes: int | None  # the .onnx file plus its external data
    sha256: str | None  # of the .onnx file
    ir_version: int | None
    opsets: dict[str, int]  # domain ("ai.onnx" for the default one) -> version
    producer: str | None
    metadata: dict[str, str]  # ONNX metadata_props
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    parameter_count: int
    parameter_bytes: int
    node_count: int  # ONNX nodes, subgraphs included; leaf modules for PyTorch
    op_histogram: dict[str, int]  # op type (module type for PyTorch) -> count, most first


@dataclass(frozen=True)
class FedTensor:
    """One input as it was fed to the model."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    source: Literal["synthetic", "data", "value", "task"]
    generator: str  # how the values were made, in words: "normal(0, 1), seed 0"
    min: float | None  # None for an empty tensor
    max: float | None
    mean: float | None


@dataclass(frozen=True)
class ObservedOutput:
    """One output of a forward pass on the fed inputs (all finite, or the audit stops)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    min: float | None
    max: float | None
    mean: float | None


@dataclass(frozen=True)
class InputsSection:
    tensors: tuple[FedTensor, ...]
    dims: dict[str, int]  # every symbolic dim name -> the size it was given
    warnings: tuple[str, ...]  # every default the harness chose for the user, in words
    outputs: tuple[ObservedOutput, ...]
    # The reference task whose test samples were fed (named in the model's metadata, or a
    # ref: model's own), or None.
    task: str | None = None


@dataclass(frozen=True)
class StageSection:
    """A stage's section. Later stages extend it with their measurements."""

    status: StageStatus
    reason: str | None = None


@dataclass(frozen=True)
class AuditResult:
    schema_version: int
    harness_version: str
    created_at: str  # ISO 8601, UTC
    environment: Environment
    config: AuditConfig
    device: Literal["cpu", "cuda"]  # what --device resolved to on this machine
    model: ModelSummary
    inputs: InputsSection
    efficiency: EfficiencySection = field(default_factory=lambda: EfficiencySection("skipped"))
    explanations: ExplanationsSection = field(
        default_factory=lambda: ExplanationsSection("skipped")
    )
    attention: AttentionSection = field(default_factory=lambda: AttentionSection("skipped"))
    # Optional: results written before the privacy stage existed read as not run.
    privacy: PrivacySection = field(default_factory=lambda: PrivacySection("skipped", NOT_RUN))
    # The command line that produced this result, shell-quoted ("python -m harness audit
    # model.onnx --budget quick"); None when the audit was run through the library.
    command: str | None = None
    # Every warning raised or logged during the audit (a library's RuntimeWarning, a metric
    # that failed), one line each, each once (harness.core.notes); results written before
    # the audit kept them have none.
    notes: tuple[str, ...] = ()
    # The one verdict the findings reach (harness.core.verdict), stored by the pipeline;
    # None for results written before audits recorded one (the report says so).
    verdict: Verdict | None = None
    # Wall-clock seconds each step took (load, inputs, then each stage), in running order:
    # how long the budget really held (benchmarks/budgets.py reads it); results written
    # before audits recorded it have none.
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def stage(self, name: str) -> Section:
        if name not in STAGE_NAMES:
            raise KeyError(name)
        section: Section = getattr(self, name)
        return section

    def failed_stages(self) -> tuple[str, ...]:
        return tuple(name for name in STAGE_NAMES if self.stage(name).status == "failed")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = to_jsonable(self)
        return data

    def to_json(self) -> str:
        # allow_nan=False: a NaN in a result is a bug upstream, never something to write.
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        """DATA (parsed result.json) upgraded, checked against the schema's types and
        bounds and for consistency, as a result; anything else is a ``ResultFormatError``
        naming the JSON path of the first value at fault."""
        upgraded = migrate(data)
        try:
            # The schema first: no NaN, surrogate or out-of-range value reaches a dataclass.
            validate(upgraded, _result_schema())
            result: AuditResult = from_jsonable(cls, upgraded)
            check_consistency(result)
        except SchemaViolation as exc:
            raise ResultFormatError(
                f"result field {exc}: the harness never writes that, so the file was edited "
                "or damaged; re-run the audit to regenerate it"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise ResultFormatError(
                f"result does not match schema version {SCHEMA_VERSION}: {exc}; "
                "re-run the audit to regenerate it"
            ) from exc
        return result

    @classmethod
    def read(cls, path: Path, label: str = "result") -> AuditResult:
        """The result.json at PATH; a missing, unreadable, oversized, corrupt, invalid or
        too new file is a one-line ``ResultFormatError`` naming LABEL ("BASE", "A", ...)
        and PATH. Nothing over ``MAX_RESULT_BYTES`` is parsed."""
        try:
            text = read_limited(path, MAX_RESULT_BYTES).decode("utf-8")
        except FileNotFoundError:
            raise ResultFormatError(
                f"{label} '{path}' does not exist; pass the result.json an audit wrote"
            ) from None
        except FileTooLargeError as exc:
            raise ResultFormatError(
                f"{label} {exc} for a result file; pass the result.json an audit wrote"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ResultFormatError(f"cannot read {label} '{path}': {exc}") from exc
        try:
            return cls.from_json(text)
        except ResultFormatError as exc:
            raise ResultFormatError(f"{label} '{path}': {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> AuditResult:
        try:
            # NaN and Infinity tokens (never written: to_json refuses them) become floats
            # here so that validation names the field that holds one.
            data = json.loads(text, parse_constant=float)
        except json.JSONDecodeError as exc:
            raise ResultFormatError(
                f"result is not valid JSON: {exc}; pass the result.json an audit wrote, "
                "or re-run the audit to regenerate it"
            ) from exc
        except RecursionError as exc:
            raise ResultFormatError(
                "result nests arrays or objects deeper than JSON parsing allows; the harness "
                "never writes that, pass the result.json an audit wrote"
            ) from exc
        except ValueError as exc:  # Python's limit on the digits of an integer
            # Its message ends by suggesting sys.set_int_max_str_digits: not the user's fix.
            cause = first_line(exc).split(";")[0]
            raise ResultFormatError(
                f"result holds a value JSON parsing refuses ({cause}); the harness never "
                "writes that, pass the result.json an audit wrote"
            ) from exc
        if not isinstance(data, dict):
            raise ResultFormatError(
                f"result JSON must be an object, got {type(data).__name__}; "
                "pass the result.json an audit wrote"
            )
        return cls.from_dict(data)


@cache
def _result_schema() -> dict[str, Any]:
    """The committed schema, read once (``validate`` never changes it)."""
    return load_result_schema()


# Stage name -> the dataclass of its section; each has ``status`` and ``reason`` first.
SECTION_TYPES: dict[str, type] = {
    "efficiency": EfficiencySection,
    "explanations": ExplanationsSection,
    "attention": AttentionSection,
    "privacy": PrivacySection,
}

# version N -> function upgrading a version-N dict to version N+1.
Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 records the command line and the findings' thresholds; version 1 results
    had neither, and were judged by the defaults."""
    from harness.core.thresholds import FindingThresholds

    upgraded = dict(data)
    upgraded["command"] = None
    if not isinstance(upgraded.get("config") or {}, dict):
        raise ResultFormatError("result field $.config is not an object; re-run the audit")
    config = dict(upgraded.get("config") or {})
    config.setdefault("findings", to_jsonable(FindingThresholds()))
    upgraded["config"] = config
    return upgraded


_MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade a result dict of any older ``schema_version`` to the current one."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultFormatError(
            f"result has no integer schema_version (got {version!r}); "
            "it was not written by this harness"
        )
    if version > SCHEMA_VERSION:
        raise ResultFormatError(
            f"result schema_version {version} is newer than this harness reads "
            f"({SCHEMA_VERSION}); upgrade model-audit-harness"
        )
    while version < SCHEMA_VERSION:
        step = _MIGRATIONS.get(version)
        if step is None:
            raise ResultFormatError(
                f"no upgrade from schema_version {version}; re-run the audit to regenerate it"
            )
        data = step(data)
        version += 1
        data["schema_version"] = version
    return data
