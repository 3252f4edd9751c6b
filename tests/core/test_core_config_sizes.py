"""--max-input-bytes: sizes as a person types them, from flags and from the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.config import DEFAULT_MAX_INPUT_BYTES, parse_size, resolve_config
from harness.core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "size"),
    [("1000", 1000), ("1b", 1), ("4KiB", 4096), ("512 MiB", 512 * 2**20), ("2gib", 2 * 2**30),
     ("1TiB", 2**40)],
)  # fmt: skip
def test_sizes_in_bytes_or_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5GiB", "2GB", "2PiB", "GiB", "9" * 5000])
def test_anything_else_is_a_usage_error_naming_the_flag(text: str) -> None:
    with pytest.raises(UsageError, match="--max-input-bytes"):
        parse_size(text)


def test_the_default_and_the_file_and_the_flag(tmp_path: Path) -> None:
    assert resolve_config("m.onnx", {}, None, tmp_path).max_input_bytes == DEFAULT_MAX_INPUT_BYTES
    settings = tmp_path / "audit.toml"
    settings.write_text("max_input_bytes = 4096\n")
    from_file = resolve_config("m.onnx", {}, settings, tmp_path)
    assert from_file.max_input_bytes == 4096
    flags = {"max_input_bytes": parse_size("1MiB")}
    assert resolve_config("m.onnx", flags, settings, tmp_path).max_input_bytes == 2**20


def test_a_file_value_of_another_type_is_a_usage_error(tmp_path: Path) -> None:
    settings = tmp_path / "audit.toml"
    settings.write_text("max_input_bytes = 1.5\n")
    with pytest.raises(UsageError, match="max-input-bytes must be a size"):
        resolve_config("m.onnx", {}, settings, tmp_path)
