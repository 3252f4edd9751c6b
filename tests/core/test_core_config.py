"""Config: parsing of flag values, and defaults < TOML file < flags resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.core.config import (
    AuditConfig,
    default_out_dir,
    find_pyproject,
    findings_from_file,
    parse_dims,
    parse_value,
    read_toml,
    resolve_config,
    settings_from_flags,
    split_assignment,
)
from harness.core.errors import UsageError
from harness.core.read_limits import MAX_TOML_BYTES
from harness.core.thresholds import FindingThresholds, thresholds_from_table

# --- parse_dims -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1x128", ((1, 128), None)),
        ("1x3x224x224", ((1, 3, 224, 224), None)),
        ("1X128", ((1, 128), None)),
        (" 1x128 ", ((1, 128), None)),
        ("1x128:int64", ((1, 128), "int64")),
        ("7", ((7,), None)),
        ("scalar", ((), None)),
        ("", ((), None)),
        ("scalar:float16", ((), "float16")),
    ],
)
def test_parse_dims_accepts(text: str, expected: tuple[tuple[int, ...], str | None]) -> None:
    assert parse_dims(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1x0", "'0' is not a positive integer"),
        ("1x-3", "'-3' is not a positive integer"),
        ("1xx3", "'' is not a positive integer"),
        ("1,3", "'1,3' is not a positive integer"),
        ("batchx3", "'batch' is not a positive integer"),
        ("1x²", "'²' is not a positive integer"),
        ("1x2.5", "'2.5' is not a positive integer"),
        ("1x128:complex64", "dtype 'complex64' is not supported; use one of float16"),
    ],
)
def test_parse_dims_rejects(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_dims(text)


def test_parse_dims_names_the_flag_and_says_how_to_write_dims() -> None:
    with pytest.raises(UsageError) as info:
        parse_dims("1xN", "--shape input_ids")
    assert str(info.value).startswith("--shape input_ids '1xN'")
    assert "write dims like 1x3x224x224" in str(info.value)


# --- parse_value, split_assignment ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("16000", 16000, int),
        ("-2", -2, int),
        ("0.5", 0.5, float),
        ("1e-3", 0.001, float),
        ("true", True, bool),
        ("False", False, bool),
        (" 3 ", 3, int),
    ],
)
def test_parse_value_accepts(text: str, expected: Any, kind: type) -> None:
    value = parse_value(text)
    assert value == expected
    assert type(value) is kind


@pytest.mark.parametrize("text", ["yes", "", "16k", "0x10"])
def test_parse_value_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="is not a number or true/false"):
        parse_value(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("input_ids=1x128", ("input_ids", "1x128")),
        (" sr = 16000 ", ("sr", "16000")),
        ("a=b=c", ("a", "b=c")),
    ],
)
def test_split_assignment_accepts(text: str, expected: tuple[str, str]) -> None:
    assert split_assignment(text, "--value") == expected


@pytest.mark.parametrize("text", ["1x128", "=1x128", "x=", " = "])
def test_split_assignment_rejects(text: str) -> None:
    with pytest.raises(UsageError, match=r"--shape expects NAME=VALUE"):
        split_assignment(text, "--shape")


# --- default_out_dir ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("net.onnx", "audit-net"),
        ("models/v1/resnet18.onnx", "audit-resnet18"),
        ("/abs/path/model.v2.onnx", "audit-model.v2"),
        ("ref:cnn", "audit-cnn"),
        ("ref:transformer", "audit-transformer"),
        ("pkg.mod:factory", "audit-factory"),
        ("mymodule:build_model", "audit-build_model"),
        ("ref:", "audit-model"),
    ],
)
def test_default_out_dir(model: str, expected: str) -> None:
    assert default_out_dir(model) == Path(expected)


def test_out_dir_prefers_the_configured_folder() -> None:
    assert AuditConfig(model="net.onnx").out_dir == Path("audit-net")
    assert AuditConfig(model="net.onnx", out=Path("elsewhere")).out_dir == Path("elsewhere")


# --- settings_from_flags --------------------------------------------------------------


def test_settings_from_flags_leaves_out_what_was_not_given() -> None:
    assert settings_from_flags() == {}


def test_settings_from_flags_parses_every_option() -> None:
    settings = settings_from_flags(
        out="res",
        shape=["input_ids=1x128:int64", "mask=1x128"],
        data="inputs.npz",
        value=["sr=16000", "causal=true"],
        device="cpu",
        seed=3,
        threads=2,
        budget="quick",
        skip=["attention"],
        quiet=True,
        force=True,
    )
    assert settings == {
        "out": Path("res"),
        "shape": {"input_ids": ((1, 128), "int64"), "mask": ((1, 128), None)},
        "data": Path("inputs.npz"),
        "value": {"sr": 16000, "causal": True},
        "device": "cpu",
        "seed": 3,
        "threads": 2,
        "budget": "quick",
        "skip": ["attention"],
        "quiet": True,
        "force": True,
    }


def test_settings_from_flags_keeps_a_zero_seed() -> None:
    assert settings_from_flags(seed=0) == {"seed": 0}


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"device": "tpu"}, "--device 'tpu' is not allowed; use one of cpu, cuda, auto"),
        ({"budget": "huge"}, "--budget 'huge' is not allowed; use one of quick, standard"),
        ({"skip": ["profile"]}, "--skip 'profile' is not a stage; use one of efficiency"),
        ({"threads": 0}, "--threads must be a positive integer"),
        ({"seed": -1}, "--seed must be a non-negative integer"),
        ({"shape": ["x"]}, "--shape expects NAME=VALUE"),
        ({"shape": ["x=1xq"]}, "--shape x '1xq'"),
        ({"value": ["sr=fast"]}, "--value value 'fast' is not a number"),
        ({"value": ["sr=nan"]}, "value for 'sr' must be a finite number"),
        ({"value": ["sr=inf"]}, "value for 'sr' must be a finite number"),
    ],
)
def test_settings_from_flags_rejects(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        settings_from_flags(**kwargs)


# --- resolve_config -------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder whose pyproject.toml has a [tool.harness] table."""
    write(
        tmp_path / "pyproject.toml",
        """
[project]
name = "demo"

[tool.harness]
out = "from-pyproject"
device = "cpu"
seed = 1
budget = "quick"
shape = { input_ids = "1x64:int64", mask = [1, 64] }
value = { sr = 8000 }
skip = ["attention"]
""",
    )
    return tmp_path


def test_defaults_without_any_file(tmp_path: Path) -> None:
    if find_pyproject(tmp_path) is not None:
        pytest.skip("a pyproject.toml above the temporary folder would be read")
    config = resolve_config("net.onnx", {}, None, tmp_path)
    assert config == AuditConfig(model="net.onnx")
    assert config.sources == ("defaults",)


def test_pyproject_without_a_harness_table_changes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "demo"\n')
    config = resolve_config("net.onnx", {}, None, tmp_path)
    assert config == AuditConfig(model="net.onnx")


def test_pyproject_table_overrides_defaults(project: Path) -> None:
    cwd = project / "src" / "deep"
    cwd.mkdir(parents=True)
    config = resolve_config("net.onnx", {}, None, cwd)
    assert config.sources == ("defaults", f"file:{project / 'pyproject.toml'}")
    assert config.out == project / "from-pyproject"
    assert config.device == "cpu"
    assert config.seed == 1
    assert config.budget == "quick"
    assert config.shapes == {"input_ids": (1, 64), "mask": (1, 64)}
    assert config.dtypes == {"input_ids": "int64"}
    assert config.values == {"sr": 8000}
    assert config.skip == ("attention",)
    assert config.threads is None  # not in the file: the default stays


def test_config_file_replaces_the_pyproject_table(project: Path) -> None:
    """``--config FILE`` is read instead of pyproject's table, settings at top level."""
    config_file = write(
        project / "conf" / "audit.toml",
        'out = "results"\ndata = "../data/inputs.npz"\nbudget = "thorough"\nthreads = 4\n',
    )
    config = resolve_config("net.onnx", {}, config_file, project)
    assert config.sources == ("defaults", f"file:{config_file}")
    assert config.budget == "thorough"
    assert config.threads == 4
    assert config.device == "auto"  # pyproject's "cpu" was not read
    assert config.out == project / "conf" / "results"
    assert config.data == project / "conf" / ".." / "data" / "inputs.npz"


def test_config_file_may_use_a_tool_harness_table(tmp_path: Path) -> None:
    config_file = write(tmp_path / "other.toml", '[tool.harness]\nbudget = "quick"\n')
    config = resolve_config("net.onnx", {}, config_file, tmp_path)
    assert config.budget == "quick"


def test_absolute_paths_in_a_file_stay_absolute(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "out"
    config_file = write(tmp_path / "conf" / "audit.toml", f'out = "{target.as_posix()}"\n')
    assert resolve_config("net.onnx", {}, config_file, tmp_path).out == target


def test_flags_override_the_file_key_by_key(project: Path) -> None:
    flags = settings_from_flags(
        out="cli-out",
        shape=["input_ids=2x32", "extra=3"],
        value=["temperature=0.7"],
        device="cuda",
        skip=["efficiency", "attention"],
    )
    config = resolve_config("net.onnx", flags, None, project)
    assert config.sources == ("defaults", f"file:{project / 'pyproject.toml'}", "flags")
    assert config.out == Path("cli-out")  # flags are relative to the working directory
    assert config.device == "cuda"
    assert config.seed == 1  # from the file
    assert config.budget == "quick"  # from the file
    # shape and value merge by input name; a flag without a dtype keeps the file's dtype
    assert config.shapes == {"input_ids": (2, 32), "mask": (1, 64), "extra": (3,)}
    assert config.dtypes == {"input_ids": "int64"}
    assert config.values == {"sr": 8000, "temperature": 0.7}
    # skip lists are joined, without repeats, file first
    assert config.skip == ("attention", "efficiency")


def test_flags_alone_apply_over_defaults(tmp_path: Path) -> None:
    config_file = write(tmp_path / "empty.toml", "")
    flags = settings_from_flags(threads=3, quiet=True)
    config = resolve_config("ref:cnn", flags, config_file, tmp_path)
    assert config.threads == 3
    assert config.quiet is True
    assert config.sources == ("defaults", f"file:{config_file}", "flags")
    assert config.out_dir == Path("audit-cnn")


def test_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    config_file = write(tmp_path / "audit.toml", 'budget = "quick"\nthread = 2\n')
    with pytest.raises(UsageError, match=r"unknown key\(s\) thread; allowed: out, shape"):
        resolve_config("net.onnx", {}, config_file, tmp_path)


def test_unknown_key_in_pyproject_table_is_rejected(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.harness]\nbatch = 4\n")
    with pytest.raises(UsageError, match="batch") as info:
        resolve_config("net.onnx", {}, None, tmp_path)
    assert str(tmp_path / "pyproject.toml") in str(info.value)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('budget = "forever"', "--budget 'forever' is not allowed"),
        ('device = "tpu"', "--device 'tpu' is not allowed"),
        ('skip = ["profiling"]', "--skip 'profiling' is not a stage"),
        ('skip = "attention"', "'skip' must be a list"),
        ("threads = 0", "--threads must be a positive integer"),
        ("threads = true", "--threads must be a positive integer"),
        ("seed = -1", "--seed must be a non-negative integer"),
        ("seed = true", "--seed must be a non-negative integer"),
        ("seed = 1.5", "--seed must be a non-negative integer"),
        ('quiet = "yes"', "'quiet' must be true or false"),
        ("out = 3", "'out' must be a str"),
        ("shape = 3", "'shape' must be a dict"),
        ('shape = { x = "1x0" }', "--shape x '1x0'"),
        ("shape = { x = 5 }", "'shape' must be a str"),
        ("value = 3", "'value' must be a dict"),
        ('value = { sr = "fast" }', "value for 'sr' must be a finite number or bool"),
        ("value = { sr = nan }", "value for 'sr' must be a finite number or bool"),
        ("[tool]\nharness = 3", "'tool.harness' must be a dict"),
    ],
)
def test_bad_file_values_are_rejected(tmp_path: Path, body: str, says: str) -> None:
    config_file = write(tmp_path / "audit.toml", body + "\n")
    with pytest.raises(UsageError, match=says) as info:
        resolve_config("net.onnx", {}, config_file, tmp_path)
    assert str(config_file) in str(info.value) or "--shape" in str(info.value)


def test_file_shapes_may_be_lists_or_scalars(tmp_path: Path) -> None:
    config_file = write(tmp_path / "audit.toml", 'shape = { a = [2, 3], b = [], c = "scalar" }\n')
    config = resolve_config("net.onnx", {}, config_file, tmp_path)
    assert config.shapes == {"a": (2, 3), "b": (), "c": ()}


def test_missing_config_file_says_to_check_the_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist; check --config"):
        resolve_config("net.onnx", {}, tmp_path / "nope.toml", tmp_path)


def test_invalid_toml_is_a_usage_error(tmp_path: Path) -> None:
    config_file = write(tmp_path / "audit.toml", "budget = \n")
    with pytest.raises(UsageError, match="is not valid TOML"):
        resolve_config("net.onnx", {}, config_file, tmp_path)


def test_find_pyproject_walks_up(tmp_path: Path) -> None:
    pyproject = write(tmp_path / "pyproject.toml", "")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_pyproject(deep) == pyproject
    nearer = write(tmp_path / "a" / "pyproject.toml", "")
    assert find_pyproject(deep) == nearer


# --- findings thresholds ------------------------------------------------------------------


def test_findings_table_moves_only_the_named_thresholds(tmp_path: Path) -> None:
    settings = tmp_path / "audit.toml"
    settings.write_text("[findings]\nlatency_cv_max = 0.2\npercent_of_peak_min = 1\n")
    config = resolve_config("m.onnx", {}, settings, tmp_path)
    assert config.findings.latency_cv_max == 0.2
    assert config.findings.percent_of_peak_min == 1.0
    default = FindingThresholds()
    assert config.findings.ground_truth_margin == default.ground_truth_margin
    assert resolve_config("m.onnx", {}, None, tmp_path).findings == default


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("latency_cv = 0.2", "unknown finding threshold"),
        ('latency_cv_max = "high"', "non-negative number"),
        ("latency_cv_max = -1", "non-negative number"),
        ("latency_cv_max = true", "non-negative number"),
        ("latency_cv_max = nan", "non-negative number"),
    ],
)
def test_bad_findings_tables_are_usage_errors(tmp_path: Path, table: str, message: str) -> None:
    settings = tmp_path / "audit.toml"
    settings.write_text(f"[findings]\n{table}\n")
    with pytest.raises(UsageError, match=message):
        resolve_config("m.onnx", {}, settings, tmp_path)


def test_findings_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="table"):
        thresholds_from_table(0.5, "config 'x':")


# --- hostile files: every reader of a TOML file refuses with a UsageError ------------------

DEEP_ARRAYS = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"
DEEP_TABLES = "a = " + "{b = " * 100_000 + "1" + "}" * 100_000 + "\n"


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_TABLES], ids=["arrays", "tables"])
def test_deeply_nested_toml_is_a_usage_error(tmp_path: Path, body: str) -> None:
    config_file = write(tmp_path / "audit.toml", body)
    with pytest.raises(UsageError, match="nests arrays or tables deeper than TOML parsing"):
        resolve_config("net.onnx", {}, config_file, tmp_path)
    with pytest.raises(UsageError, match=r"policy file .* nests arrays or tables"):
        read_toml(config_file, "policy", "--policy")


def test_an_integer_of_5000_digits_is_a_usage_error(tmp_path: Path) -> None:
    config_file = write(tmp_path / "audit.toml", "seed = " + "9" * 5000 + "\n")
    with pytest.raises(UsageError, match="4300 digits") as info:
        resolve_config("net.onnx", {}, config_file, tmp_path)
    assert "set_int_max_str_digits" not in str(info.value)


def test_a_top_level_tool_that_is_not_a_table_is_an_unknown_setting(tmp_path: Path) -> None:
    config_file = write(tmp_path / "audit.toml", 'tool = "x"\n')
    with pytest.raises(UsageError, match=r"unknown key.*tool"):
        resolve_config("net.onnx", {}, config_file, tmp_path)


def test_a_pyproject_tool_that_is_not_a_table_holds_no_settings(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", 'tool = "x"\n')
    assert resolve_config("net.onnx", {}, None, tmp_path).sources == ("defaults",)


def test_a_pyproject_harness_entry_that_is_not_a_table_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool]\nharness = 3\n")
    with pytest.raises(UsageError, match=r"'tool\.harness' must be a dict"):
        resolve_config("net.onnx", {}, None, tmp_path)


def test_report_config_whose_harness_entry_is_not_a_table_is_a_usage_error(
    tmp_path: Path,
) -> None:
    """`harness report --config`: a findings lookup in a number was a TypeError (exit 3)."""
    config_file = write(tmp_path / "audit.toml", "[tool]\nharness = 3\n")
    with pytest.raises(UsageError, match=r"'tool\.harness' must be a dict"):
        findings_from_file(config_file, FindingThresholds())


def test_a_toml_file_over_the_limit_is_refused_unparsed(tmp_path: Path) -> None:
    big = tmp_path / "audit.toml"
    with big.open("wb") as handle:
        handle.truncate(MAX_TOML_BYTES + 1)  # sparse, and not TOML: it is never parsed
    with pytest.raises(UsageError) as info:
        read_toml(big, "policy", "--policy")
    message = str(info.value)
    assert f"policy file '{big}' is 1,048,577 bytes, over the 1.0 MiB limit" in message
    assert "check that --policy names the right file" in message


def test_an_endless_device_is_read_no_further_than_the_limit() -> None:
    with pytest.raises(UsageError, match=r"more than that, over the 1\.0 MiB limit"):
        read_toml(Path("/dev/zero"))


def test_a_folder_named_as_config_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read config file .*; check --config"):
        read_toml(tmp_path)


def test_a_dim_of_thousands_of_digits_is_a_usage_error_not_an_int_limit_crash() -> None:
    # int() refuses strings past 4300 digits with a ValueError: a fuzz case was exit 3
    with pytest.raises(UsageError, match="is not a positive integer"):
        parse_dims("9" * 5000 + "x1")
    assert parse_dims("999999999999999999x1")[0] == (999_999_999_999_999_999, 1)


@pytest.mark.parametrize("samples", [0, 10_001, 10**9])
def test_samples_outside_one_to_the_cap_are_refused(tmp_path: Path, samples: int) -> None:
    # --samples 10**9 grew a fuzz case's memory past 20 GB before the cap
    with pytest.raises(UsageError, match="from 1 to 10000"):
        settings_from_flags(samples=samples)
    config = tmp_path / "audit.toml"
    config.write_text(f"[tool.harness]\nsamples = {samples}\n")
    with pytest.raises(UsageError, match="from 1 to 10000"):
        resolve_config("net.onnx", {}, config, tmp_path)


def test_samples_at_the_cap_are_taken(tmp_path: Path) -> None:
    flags = settings_from_flags(samples=10_000)
    assert resolve_config("net.onnx", flags, None, tmp_path).samples == 10_000


def test_membership_files_in_a_config_file_are_relative_to_it(tmp_path: Path) -> None:
    config_file = write(
        tmp_path / "conf" / "audit.toml", 'members = "m.npz"\nnonmembers = "../n.npz"\n'
    )
    config = resolve_config("net.onnx", {}, config_file, tmp_path)
    assert config.members == tmp_path / "conf" / "m.npz"
    assert config.nonmembers == tmp_path / "conf" / ".." / "n.npz"


@pytest.mark.parametrize("given", ["members", "nonmembers"])
def test_one_membership_file_without_the_other_is_refused(tmp_path: Path, given: str) -> None:
    flags = settings_from_flags(**{given: "x.npz"})
    with pytest.raises(UsageError, match="pass both files"):
        resolve_config("net.onnx", flags, None, tmp_path)
