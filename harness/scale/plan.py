"""An audit plan: the models to audit, each with its settings, and how to cut the work.

    # plan.toml: python -m harness audit-many plan.toml
    [scale]                       # optional
    shard_size = 45               # samples per shard of a dataset's explanations (32)
    retries = 2                   # further attempts of a unit that crashes (2)

    [defaults]                    # optional: settings every model takes
    budget = "quick"              # the keys of [tool.harness] (harness.core.config)

    [[models]]
    model = "zoo/cnn_digits.onnx" # a file (relative to the plan's folder), ref:NAME or
                                  # package.module:factory
    name = "cnn"                  # optional: its output folder (default: the file's stem)
    samples = "all"               # optional: explain every sample of --data (or of the
                                  # model's task test split), in shards
    explainers = ["integrated_gradients", "occlusion"]

A model's settings are the defaults', then its own (``skip`` lists are joined). Every
mistake is one ``UsageError`` line naming the plan, the model and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.config import AuditConfig, config_from_table, default_out_dir, read_toml
from harness.core.errors import UsageError, shorten

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_SHARD_SIZE",
    "MAX_RETRIES",
    "ModelEntry",
    "ScalePlan",
    "read_plan",
    "single_model_plan",
]

DEFAULT_SHARD_SIZE = 32
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
MAX_SHARD_SIZE = 10_000  # the audit's own bound on --samples (MAX_SAMPLES)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TOP_KEYS = ("scale", "defaults", "models")
_SCALE_KEYS = ("shard_size", "retries")
_ENTRY_KEYS = ("model", "name", "samples")


@dataclass(frozen=True)
class ModelEntry:
    """One model of the plan."""

    name: str  # unique in the plan; its output folder
    config: AuditConfig
    all_samples: bool = False  # samples = "all": explain the whole dataset, in shards


@dataclass(frozen=True)
class ScalePlan:
    models: tuple[ModelEntry, ...]
    shard_size: int = DEFAULT_SHARD_SIZE
    retries: int = DEFAULT_RETRIES
    source: str = "plan"  # where it came from, in words


def read_plan(path: Path) -> ScalePlan:
    """The plan in the TOML file at PATH; any mistake is a one-line ``UsageError``."""
    table = read_toml(path, kind="plan", flag="audit-many PLAN")
    where = f"plan '{shorten(str(path))}':"
    unknown = sorted(set(table) - set(_TOP_KEYS))
    if unknown:
        raise UsageError(
            f"{where} unknown table(s) {', '.join(unknown)}; a plan holds {', '.join(_TOP_KEYS)}"
        )
    shard_size, retries = _scale_settings(_table(table, "scale", where), where)
    defaults = _table(table, "defaults", where)
    _refuse_entry_keys(defaults, f"{where} [defaults]")
    entries = table.get("models")
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise UsageError(
            f"{where} no models; add one [[models]] table per model, e.g. "
            '[[models]] model = "net.onnx"'
        )
    models = tuple(
        _entry(entry, defaults, path, f"{where} model {i + 1}:") for i, entry in enumerate(entries)
    )
    _check_unique_names(models, where)
    return ScalePlan(models, shard_size, retries, source=f"plan {path}")


def single_model_plan(config: AuditConfig, shard_size: int, retries: int) -> ScalePlan:
    """The plan of ``audit MODEL --samples all``: one model, its whole dataset."""
    name = default_out_dir(config.model).name.removeprefix("audit-")
    entry = ModelEntry(_safe_name(name), config, all_samples=True)
    return ScalePlan((entry,), shard_size, retries, source=f"audit {config.model}")


def _scale_settings(scale: dict[str, Any], where: str) -> tuple[int, int]:
    unknown = sorted(set(scale) - set(_SCALE_KEYS))
    if unknown:
        raise UsageError(
            f"{where} [scale] unknown key(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(_SCALE_KEYS)}"
        )
    shard_size = scale.get("shard_size", DEFAULT_SHARD_SIZE)
    retries = scale.get("retries", DEFAULT_RETRIES)
    check_shard_size(shard_size, f"{where} [scale] shard_size")
    check_retries(retries, f"{where} [scale] retries")
    return shard_size, retries


def check_shard_size(value: Any, what: str) -> None:
    if not _is_int(value) or not 1 <= value <= MAX_SHARD_SIZE:
        raise UsageError(f"{what} must be an integer from 1 to {MAX_SHARD_SIZE}, got {value!r}")


def check_retries(value: Any, what: str) -> None:
    if not _is_int(value) or not 0 <= value <= MAX_RETRIES:
        raise UsageError(f"{what} must be an integer from 0 to {MAX_RETRIES}, got {value!r}")


def _entry(entry: dict[str, Any], defaults: dict[str, Any], path: Path, where: str) -> ModelEntry:
    model = entry.get("model")
    if not isinstance(model, str) or not model.strip():
        raise UsageError(f'{where} needs model = "FILE.onnx" (or ref:NAME, or pkg.mod:factory)')
    model = _model_reference(model.strip(), path.parent)
    where = f"{where[:-1]} ({shorten(model, 60)}):"
    samples = entry.get("samples", defaults.get("samples"))
    all_samples = samples == "all"
    settings = {k: v for k, v in {**defaults, **entry}.items() if k not in _ENTRY_KEYS}
    if "skip" in defaults and "skip" in entry:
        settings["skip"] = _joined(defaults["skip"], entry["skip"])
    if samples is not None and not all_samples:
        settings["samples"] = samples
    try:
        config = config_from_table(model, settings, path)
    except UsageError as exc:  # it names the plan file; add which model
        raise UsageError(f"{where} {str(exc).split(':', 1)[-1].strip()}") from exc
    if all_samples and "explanations" in config.skip:
        raise UsageError(
            f'{where} samples = "all" explains a dataset, but the explanations stage is '
            "skipped; drop one of them"
        )
    name = entry.get("name", _safe_name(default_out_dir(model).name.removeprefix("audit-")))
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"{where} name {name!r} is not a folder name; use letters, digits, '.', '_' and "
            "'-' (at most 100)"
        )
    return ModelEntry(name, config, all_samples)


def _model_reference(model: str, folder: Path) -> str:
    """A file named relative to the plan is read from the plan's folder; ref:NAME and
    package.module:factory are left as they are."""
    from harness.intake.torch_model import FACTORY_PATTERN

    if model.startswith("ref:") or (FACTORY_PATTERN.match(model) and not Path(model).exists()):
        return model
    candidate = Path(model)
    return str(candidate if candidate.is_absolute() else folder / candidate)


def _table(table: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{where} '{key}' must be a table ([{key}]), got {shorten(repr(value))}")
    return value


def _refuse_entry_keys(defaults: dict[str, Any], where: str) -> None:
    for key in ("model", "name"):
        if key in defaults:
            raise UsageError(f"{where} '{key}' belongs to each [[models]] table, not the defaults")


def _joined(first: Any, second: Any) -> Any:
    if isinstance(first, list) and isinstance(second, list):
        return list(dict.fromkeys([*first, *second]))
    return second  # not lists: the config check names the mistake


def _check_unique_names(models: tuple[ModelEntry, ...], where: str) -> None:
    seen: set[str] = set()
    for entry in models:
        if entry.name in seen:
            raise UsageError(
                f"{where} two models are named '{entry.name}'; give each [[models]] its own "
                "name = ..."
            )
        seen.add(entry.name)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-")[:100]
    return cleaned or "model"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
