"""The audit's settings: one frozen ``AuditConfig``, resolved from defaults < a TOML file < flags.

The TOML file is ``--config FILE``, or else the ``[tool.harness]`` table of the nearest
``pyproject.toml`` above the working directory. Keys are the long flag names:

    [tool.harness]
    out = "audit-out"            # relative paths are relative to the file's folder
    shape = { input_ids = "1x128" }          # or [1, 128]; "1x128:int64" sets a dtype too
    data = "inputs.npz"
    value = { sample_rate = 16000 }
    device = "auto"              # cpu | cuda | auto
    seed = 0
    threads = 2
    budget = "standard"          # quick | standard | thorough
    backend = "auto"             # auto | onnxruntime | torch | all (efficiency runtimes)
    explainers = ["saliency", "occlusion"]   # or "saliency,occlusion"; default by budget
    samples = 8                  # samples explained; default by budget
    max_input_bytes = "2GiB"     # refuse inputs above this (bytes, or KiB/MiB/GiB/TiB)
    target = 3                   # class attributed, or a form: "cosine", "region", ...;
                                 # default: the output kind's (README: Targets)
    skip = ["attention"]
    quiet = false
    force = false
    fail_on = "fail"             # fail | warn | never: which verdicts make the audit exit 1

    [tool.harness.findings]      # where the report's findings draw their lines
    latency_cv_max = 0.3         # see harness.core.thresholds for every name and default

Flags override the file key by key; ``shape`` and ``value`` entries merge by input name
and ``skip`` lists are joined. Pure parsing and validation: nothing here imports torch.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from harness.core.errors import UsageError, shorten
from harness.core.read_limits import MAX_TOML_BYTES, FileTooLargeError, read_limited
from harness.core.targets import TARGET_FORMS
from harness.core.thresholds import FindingThresholds, thresholds_from_table
from harness.core.verdict import FAIL_ON, FailOn

__all__ = [
    "BACKENDS",
    "BUDGETS",
    "DEFAULT_MAX_INPUT_BYTES",
    "DEVICES",
    "FAIL_ON",
    "STAGE_NAMES",
    "THREADS_PER_CPU",
    "AuditConfig",
    "check_threads",
    "config_from_table",
    "default_out_dir",
    "find_pyproject",
    "findings_from_file",
    "parse_dims",
    "parse_size",
    "parse_target",
    "parse_value",
    "read_toml",
    "resolve_config",
]

Budget = Literal["quick", "standard", "thorough"]
DeviceRequest = Literal["cpu", "cuda", "auto"]
ScalarValue = bool | int | float

BUDGETS: tuple[str, ...] = get_args(Budget)
DEVICES: tuple[str, ...] = get_args(DeviceRequest)
# Runtimes the efficiency stage measures: auto = the model's own (onnxruntime for an ONNX
# file, torch for a module); torch on an ONNX file runs its onnx2torch conversion.
BackendRequest = Literal["auto", "onnxruntime", "torch", "all"]
BACKENDS: tuple[str, ...] = get_args(BackendRequest)
# The stages after input resolution, in pipeline order; each fills the result section of
# the same name, and `--skip` takes these names.
STAGE_NAMES = ("efficiency", "explanations", "attention", "privacy")

# --threads may reach this many threads per logical CPU: enough to study oversubscription,
# while a typo (--threads 100000) is refused instead of asking the runtimes for ~10^5 threads,
# which exhausts the process and kills it.
THREADS_PER_CPU = 4

# --samples may ask for at most this many samples to explain. Every method and metric runs
# on each of them, so more would not finish in any budget: a larger dataset is explained in
# parts. (A fuzz case with --samples 10**9 grew past 20 GB before this bound.)
MAX_SAMPLES = 10_000

# The inputs an audit feeds (and --data it reads) may hold at most this many bytes unless
# --max-input-bytes says otherwise: every tensor's size is estimated from its shape and dtype
# (or a data file's headers) and refused before anything is allocated, so a dim of 10**7 or
# a zip bomb costs an error line, not the machine's memory. 2 GiB holds any realistic batch
# (a 64x3x1024x1024 float32 image batch is 768 MiB).
DEFAULT_MAX_INPUT_BYTES = 2 * 1024**3

DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


@dataclass(frozen=True)
class AuditConfig:
    """Everything that decides what an audit does; recorded whole in the result."""

    model: str
    out: Path | None = None
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)  # from NAME=DIMS:DTYPE
    data: Path | None = None
    # --members / --nonmembers: .npz files of records known to be in, and known to be out of,
    # the model's training set (the privacy stage); both or neither.
    members: Path | None = None
    nonmembers: Path | None = None
    values: dict[str, ScalarValue] = field(default_factory=dict)
    device: DeviceRequest = "auto"
    seed: int = 0
    threads: int | None = None
    budget: Budget = "standard"
    backend: BackendRequest = "auto"
    # Attribution methods by name (``--explainers a,b,c``); () = the budget's default set.
    # Names are checked against the registry by the pipeline (this leaf module cannot).
    explainers: tuple[str, ...] = ()
    samples: int | None = None  # samples the explanations stage explains; None = by budget
    # The most bytes the fed inputs may hold together (and --data may decompress to).
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    # The output index attributed, or a named form (TARGET_FORMS: "norm", "region", ...);
    # None = the default for the kind of the first output (the predicted class of classes).
    target: int | str | None = None
    skip: tuple[str, ...] = ()
    quiet: bool = False
    force: bool = False
    # --fail-on: which verdicts make the audit exit 1 (harness.core.verdict.fails_under).
    fail_on: FailOn = "fail"
    findings: FindingThresholds = field(default_factory=FindingThresholds)
    sources: tuple[str, ...] = ("defaults",)  # where the settings came from, in order

    @property
    def out_dir(self) -> Path:
        return self.out if self.out is not None else default_out_dir(self.model)


def default_out_dir(model: str) -> Path:
    """``./audit-<model stem>/``: ``net.onnx`` -> audit-net, ``ref:cnn`` -> audit-cnn."""
    if model.startswith("ref:"):
        stem = model[4:]
    elif ":" in model and model.rsplit(":", 1)[1].isidentifier():  # pkg.mod:factory
        stem = model.rsplit(":", 1)[1]
    else:
        stem = Path(model).stem
    return Path(f"audit-{stem or 'model'}")


def parse_dims(text: str, flag: str = "--shape") -> tuple[tuple[int, ...], str | None]:
    """``"1x3x224x224"`` -> ((1, 3, 224, 224), None); ``"1x128:int64"`` -> (..., "int64")."""
    dims_text, _, dtype = text.strip().partition(":")
    if dtype and dtype not in DTYPES:
        raise UsageError(f"{flag} dtype '{dtype}' is not supported; use one of {', '.join(DTYPES)}")
    if dims_text in ("", "scalar"):
        return (), dtype or None
    dims = []
    for part in dims_text.lower().split("x"):
        # 18 digits already pass any memory; more would only test int()'s 4300-digit limit
        if not (part.isascii() and part.isdigit()) or len(part) > 18 or int(part) < 1:
            raise UsageError(
                f"{flag} '{text}': '{part}' is not a positive integer; "
                "write dims like 1x3x224x224 (or 'scalar')"
            )
        dims.append(int(part))
    return tuple(dims), dtype or None


_SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def parse_size(text: str, flag: str = "--max-input-bytes") -> int:
    """A size in bytes from the command line: ``"2147483648"``, ``"512MiB"``, ``"2GiB"``."""
    stripped = text.strip()
    digits = stripped.rstrip("BbIiKkMmGgTt ")
    unit = stripped[len(digits) :].strip().lower()
    # 20 digits reach far past any memory; more would only test int()'s digit limit.
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 20) or unit not in _SIZE_UNITS:
        raise UsageError(
            f"{flag} '{shorten(text)}' is not a size; give bytes or a number with KiB, MiB, "
            "GiB or TiB, e.g. 4GiB"
        )
    size = int(digits) * _SIZE_UNITS[unit]
    if size < 1:
        raise UsageError(f"{flag} must be at least 1 byte, got '{shorten(text)}'")
    return size


def parse_value(text: str, flag: str = "--value") -> ScalarValue:
    """A constant from the command line: true/false, an integer, or a float."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for number in (int, float):
        try:
            return number(lowered)
        except ValueError:
            pass
    raise UsageError(f"{flag} value '{text}' is not a number or true/false; e.g. --value sr=16000")


def split_assignment(text: str, flag: str) -> tuple[str, str]:
    """``"NAME=VALUE"`` -> (NAME, VALUE)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UsageError(f"{flag} expects NAME=VALUE, got '{text}'")
    return name.strip(), value.strip()


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def resolve_config(
    model: str, flags: dict[str, Any], config_file: Path | None, cwd: Path
) -> AuditConfig:
    """Defaults, then the TOML file (``config_file`` or the nearest pyproject), then flags.

    ``flags`` holds only the options given on the command line, already parsed by
    :func:`settings_from_flags`.
    """
    config = AuditConfig(model=model)
    table, origin = _load_table(config_file, cwd)
    if table is not None and origin is not None:
        file_settings = _settings_from_table(table, origin)
        config = _merge(config, file_settings, f"file:{origin}")
    if flags:
        config = _merge(config, flags, "flags")
    _check_membership_pair(config)
    return config


def _check_membership_pair(config: AuditConfig) -> None:
    """--members and --nonmembers come together: an attack needs both sides."""
    given = {"--members": config.members, "--nonmembers": config.nonmembers}
    missing = [flag for flag, path in given.items() if path is None]
    if len(missing) == 1:
        present = next(flag for flag in given if flag not in missing)
        raise UsageError(
            f"{present} was given without {missing[0]}; the privacy stage compares the two, "
            "so pass both files (or neither, for a zoo model's own train and test splits)"
        )


def config_from_table(model: str, table: dict[str, Any], origin: Path) -> AuditConfig:
    """MODEL's settings from TABLE (the keys of [tool.harness]) over the defaults, checked
    as a config file's are and with its relative paths taken from ORIGIN's folder: one
    model of an audit plan (``harness audit-many``)."""
    config = _merge(AuditConfig(model=model), _settings_from_table(table, origin), f"file:{origin}")
    _check_membership_pair(config)
    return config


def findings_from_file(config_file: Path, base: FindingThresholds) -> FindingThresholds:
    """BASE with the ``findings`` table of CONFIG_FILE (top level or ``[tool.harness]``)."""
    table, _ = _load_table(config_file, config_file.parent)
    if not table or "findings" not in table:
        raise UsageError(
            f"config '{config_file}' has no findings table; add e.g. "
            "[tool.harness.findings] latency_cv_max = 0.3"
        )
    return thresholds_from_table(table["findings"], f"config '{config_file}':", base)


def settings_from_flags(
    *,
    out: str | None = None,
    shape: list[str] | None = None,
    data: str | None = None,
    members: str | None = None,
    nonmembers: str | None = None,
    value: list[str] | None = None,
    device: str | None = None,
    seed: int | None = None,
    threads: int | None = None,
    budget: str | None = None,
    backend: str | None = None,
    explainers: str | None = None,
    samples: int | None = None,
    target: int | str | None = None,
    skip: list[str] | None = None,
    quiet: bool = False,
    force: bool = False,
    max_input_bytes: str | None = None,
    fail_on: str | None = None,
) -> dict[str, Any]:
    """Command-line options as settings; options not given are left out."""
    settings: dict[str, Any] = {}
    if out is not None:
        settings["out"] = Path(out)
    if shape:
        settings["shape"] = dict(split_assignment(s, "--shape") for s in shape)
    if data is not None:
        settings["data"] = Path(data)
    for key, given in (("members", members), ("nonmembers", nonmembers)):
        if given is not None:
            settings[key] = Path(given)
    if value:
        settings["value"] = {
            name: parse_value(v) for name, v in (split_assignment(s, "--value") for s in value)
        }
    optional = {
        "device": device,
        "seed": seed,
        "threads": threads,
        "budget": budget,
        "backend": backend,
        "samples": samples,
        "target": _target_text(target),
        "fail_on": fail_on,
    }
    settings.update({k: v for k, v in optional.items() if v is not None})
    if explainers is not None:
        settings["explainers"] = explainers
    if max_input_bytes is not None:
        settings["max_input_bytes"] = max_input_bytes
    if skip:
        settings["skip"] = list(skip)
    if quiet:
        settings["quiet"] = True
    if force:
        settings["force"] = True
    return _validated(settings, "flag")


def _load_table(config_file: Path | None, cwd: Path) -> tuple[dict[str, Any] | None, Path | None]:
    if config_file is not None:
        table = read_toml(config_file)
        # A dedicated file may hold the settings at top level or under [tool.harness].
        return _harness_table(table, config_file, default=table), config_file
    pyproject = find_pyproject(cwd)
    if pyproject is None:
        return None, None
    return _harness_table(read_toml(pyproject), pyproject, default=None), pyproject


def _harness_table(
    table: dict[str, Any], origin: Path, default: dict[str, Any] | None
) -> dict[str, Any] | None:
    """TABLE's [tool.harness], else DEFAULT; a ``tool`` that is not a table has none (a
    dedicated file's top-level ``tool = "x"`` is then an unknown setting)."""
    tool = table.get("tool")
    found = tool.get("harness", default) if isinstance(tool, dict) else default
    if found is not None:
        _expect_type(found, dict, "tool.harness", origin)
    return found


def read_toml(path: Path, kind: str = "config", flag: str = "--config") -> dict[str, Any]:
    """The TOML table at PATH (a KIND file named by FLAG); a missing, unreadable, oversized
    (over ``MAX_TOML_BYTES``: refused unparsed) or malformed file is a one-line
    ``UsageError`` naming both."""
    try:
        return tomllib.loads(read_limited(path, MAX_TOML_BYTES).decode("utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"{kind} file '{path}' does not exist; check {flag}") from exc
    except FileTooLargeError as exc:
        raise UsageError(
            f"{kind} file {exc} for a {kind} file; check that {flag} names the right file"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read {kind} file '{path}': {reason}; check {flag}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{kind} file '{path}' is not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise UsageError(
            f"{kind} file '{path}' nests arrays or tables deeper than TOML parsing allows; "
            f"a {kind} file needs a few levels at most"
        ) from exc
    except ValueError as exc:  # Python's limit on the digits of an integer
        # Its message ends by suggesting sys.set_int_max_str_digits: not the user's fix.
        raise UsageError(
            f"{kind} file '{path}' holds a value TOML parsing refuses "
            f"({str(exc).split(';')[0]}); check {flag}"
        ) from exc


_KEYS = (
    "out", "shape", "data", "value", "device", "seed", "threads", "budget", "backend",
    "explainers", "samples", "target", "skip", "quiet", "force", "findings", "max_input_bytes",
    "fail_on", "members", "nonmembers",
)  # fmt: skip


def _settings_from_table(table: dict[str, Any], origin: Path) -> dict[str, Any]:
    _expect_type(table, dict, "tool.harness", origin)
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise UsageError(
            f"config '{origin}': unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}"
        )
    settings = dict(table)
    base = origin.parent
    for key in ("out", "data", "members", "nonmembers"):
        if key in settings:
            settings[key] = base / _expect_type(settings[key], str, key, origin)
    if "shape" in settings:
        shapes = _expect_type(settings["shape"], dict, "shape", origin)
        settings["shape"] = {name: _shape_text(v, origin) for name, v in shapes.items()}
    for key, kind in (("value", dict), ("skip", list)):
        if key in settings:
            _expect_type(settings[key], kind, key, origin)
    if "findings" in settings:
        settings["findings"] = thresholds_from_table(settings["findings"], f"config '{origin}':")
    return _validated(settings, f"config '{origin}':")


def _shape_text(value: Any, origin: Path) -> str:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return "x".join(str(v) for v in value) or "scalar"
    return str(_expect_type(value, str, "shape", origin))


def _expect_type(value: Any, kind: type, key: str, origin: Path) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"config '{origin}': '{key}' must be a {kind.__name__}, got {value!r}")
    return value


def _validated(settings: dict[str, Any], where: str) -> dict[str, Any]:
    """Check choices and ranges shared by flags and files; parse shapes."""
    _check_choice(settings, "device", DEVICES, where)
    _check_choice(settings, "budget", BUDGETS, where)
    _check_choice(settings, "backend", BACKENDS, where)
    _check_choice(settings, "fail_on", FAIL_ON, where)
    for stage in settings.get("skip", []):
        if stage not in STAGE_NAMES:
            raise UsageError(
                f"{where} --skip '{stage}' is not a stage; use one of {', '.join(STAGE_NAMES)}"
            )
    if "threads" in settings:
        check_threads(settings["threads"], where)
    if "out" in settings and "\0" in str(settings["out"]):
        raise UsageError(f"{where} --out holds a NUL character; name a folder without one")
    if "seed" in settings and (not _is_int(settings["seed"]) or settings["seed"] < 0):
        raise UsageError(f"{where} --seed must be a non-negative integer, got {settings['seed']}")
    if "samples" in settings and not (
        _is_int(settings["samples"]) and 1 <= settings["samples"] <= MAX_SAMPLES
    ):
        raise UsageError(
            f"{where} --samples must be an integer from 1 to {MAX_SAMPLES}, got "
            f"{shorten(repr(settings['samples']), 40)}; explain a larger dataset in parts"
        )
    if "target" in settings:
        settings["target"] = parse_target(settings["target"], where)
    if "explainers" in settings:
        settings["explainers"] = _method_names(settings["explainers"], where)
    if "max_input_bytes" in settings:
        settings["max_input_bytes"] = _size(settings["max_input_bytes"], where)
    for key in ("quiet", "force"):
        if key in settings and not isinstance(settings[key], bool):
            raise UsageError(f"{where} '{key}' must be true or false, got {settings[key]!r}")
    for name, value in settings.get("value", {}).items():
        if not isinstance(value, bool | int | float) or not math.isfinite(value):
            raise UsageError(
                f"{where} value for '{name}' must be a finite number or bool, got {value!r}"
            )
    if "shape" in settings:
        settings["shape"] = {
            name: parse_dims(text, f"--shape {name}") for name, text in settings["shape"].items()
        }
    return settings


def check_threads(threads: Any, where: str = "") -> None:
    """--threads (the audit's, and the gate's with --ab) must lie between 1 and
    THREADS_PER_CPU times this machine's logical CPUs."""
    cpus = os.cpu_count() or 1
    most = THREADS_PER_CPU * cpus
    if not _is_int(threads) or not 1 <= threads <= most:
        prefix = f"{where} " if where else ""
        raise UsageError(
            f"{prefix}--threads must be a positive integer of at most {most} ({THREADS_PER_CPU} "
            f"per logical CPU; this machine has {cpus}), got {shorten(repr(threads))}"
        )


def parse_target(value: Any, where: str = "") -> int | str:
    """--target: a non-negative output index or one of TARGET_FORMS; anything else is a
    one-line usage error listing them."""
    if (_is_int(value) and value >= 0) or (isinstance(value, str) and value in TARGET_FORMS):
        return value
    prefix = f"{where} " if where else ""
    raise UsageError(
        f"{prefix}--target must be a non-negative output index, got {value!r}; or name a "
        f"target: {', '.join(TARGET_FORMS)}"
    )


def _target_text(text: str | int | None) -> str | int | None:
    """The flag's text as an index when it spells an integer (``-2`` too: refused later)."""
    if isinstance(text, str) and re.fullmatch(r"\s*[+-]?\d+\s*", text):
        return int(text)
    return text


def _method_names(value: Any, where: str) -> tuple[str, ...]:
    """``"a,b"`` or ``["a", "b"]`` -> ("a", "b"), blanks and duplicates dropped."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise UsageError(
            f"{where} --explainers must be names separated by commas (or a list of names), "
            f"got {value!r}"
        )
    names = tuple(dict.fromkeys(v.strip() for v in items if v.strip()))
    if not names:
        raise UsageError(f"{where} --explainers names no method; e.g. --explainers saliency")
    return names


def _size(value: Any, where: str) -> int:
    """--max-input-bytes as given (bytes, or a string such as "2GiB") -> bytes."""
    if not (_is_int(value) or isinstance(value, str)):
        raise UsageError(
            f"{where} --max-input-bytes must be a size (bytes, or e.g. '2GiB'), got {value!r}"
        )
    return parse_size(str(value), f"{where} --max-input-bytes")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(settings: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> None:
    if key in settings and settings[key] not in allowed:
        raise UsageError(
            f"{where} --{key.replace('_', '-')} '{settings[key]}' is not allowed; "
            f"use one of {', '.join(allowed)}"
        )


def _merge(config: AuditConfig, settings: dict[str, Any], source: str) -> AuditConfig:
    changes: dict[str, Any] = {}
    if "shape" in settings:
        parsed = settings["shape"]
        changes["shapes"] = {**config.shapes, **{n: dims for n, (dims, _) in parsed.items()}}
        dtypes = {n: dtype for n, (_, dtype) in parsed.items() if dtype}
        changes["dtypes"] = {**config.dtypes, **dtypes}
    if "value" in settings:
        changes["values"] = {**config.values, **settings["value"]}
    if "skip" in settings:
        changes["skip"] = tuple(dict.fromkeys((*config.skip, *settings["skip"])))
    for key in (
        "out", "data", "device", "seed", "threads", "budget", "backend", "explainers",
        "samples", "target", "quiet", "force", "findings", "max_input_bytes", "fail_on",
        "members", "nonmembers",
    ):  # fmt: skip
        if key in settings:
            changes[key] = settings[key]
    return replace(config, **changes, sources=(*config.sources, source))
