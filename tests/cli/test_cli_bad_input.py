"""Bad input through the CLI: exit 2, one line on stderr, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.testing import onnx_builders


def assert_rejected(args: list[str], cwd: Path, capsys, *needles: str) -> str:
    """Run an audit into ``cwd/audit``; it must exit 2 with one line and leave nothing."""
    before = set(cwd.iterdir())
    code = main(["audit", *args, "--out", str(cwd / "audit"), "--quiet", "--skip", "efficiency"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err
    assert set(cwd.iterdir()) == before  # no output folder, no partial leftovers
    return err


def test_missing_path(tmp_path, capsys):
    missing = str(tmp_path / "nope.onnx")
    assert_rejected([missing], tmp_path, capsys, "ModelLoadError", "does not exist")


def test_text_file_renamed_onnx(tmp_path, capsys):
    model = onnx_builders.text_file_as_onnx(tmp_path / "m")
    assert_rejected([str(model)], tmp_path, capsys, "ModelLoadError", "not a readable ONNX")


def test_truncated_onnx(shelf, tmp_path, capsys):
    model = onnx_builders.truncated_onnx(tmp_path / "m", shelf.get("tiny_cnn"))
    assert_rejected([str(model)], tmp_path, capsys, "ModelLoadError")


def test_model_failing_the_checker(tmp_path, capsys):
    model = onnx_builders.checker_failing_model(tmp_path / "m")
    assert_rejected([str(model)], tmp_path, capsys, "fails the ONNX checker", "ghost")


def test_unresolved_dynamic_dim(shelf, tmp_path, capsys):
    model = str(shelf.get("unresolvable_dim_model"))
    err = assert_rejected([model], tmp_path, capsys, "InputResolutionError", "mystery_dim")
    assert "--shape x=1xN" in err


def test_scalar_input_without_value(shelf, tmp_path, capsys):
    model = str(shelf.get("scalar_input_model"))
    assert_rejected([model], tmp_path, capsys, "'gain'", "--value gain=")


@pytest.mark.parametrize(
    ("arrays", "needles"),
    [
        ({}, ("DataError", "lacks input 'pixels'")),
        ({"pixels": np.zeros((1, 1, 28, 28), np.float64)}, ("'pixels'", "float32", "float64")),
        ({"pixels": np.zeros((1, 1, 28, 27), np.float32)}, ("'pixels' dim 3", "28", "27")),
        ({"pixels": np.zeros((1, 28, 28), np.float32)}, ("'pixels'", "4 dims", "3")),
        (
            {"pixels": np.zeros((1, 1, 28, 28), np.float32), "extra": np.zeros(2)},
            ("'extra'", "not an input"),
        ),
    ],
    ids=["missing-input", "wrong-dtype", "wrong-fixed-dim", "wrong-rank", "extra-array"],
)
def test_bad_data_file(shelf, tmp_path, capsys, arrays, needles):
    data = tmp_path / "data.npz"
    np.savez(data, **arrays)
    model = str(shelf.get("tiny_cnn"))
    assert_rejected([model, "--data", str(data)], tmp_path, capsys, *needles)


@pytest.mark.parametrize("where", ["parent", "absolute"])
def test_external_data_outside_the_model_folder(tmp_path, capsys, where):
    folder = tmp_path / "m"
    location = "../outside.bin" if where == "parent" else str(tmp_path / "elsewhere.bin")
    model = onnx_builders.external_data_escaping(folder, location)
    assert_rejected([str(model)], folder, capsys, "ModelLoadError", "outside")


def test_nan_output(shelf, tmp_path, capsys):
    model = str(shelf.get("nan_output_model"))
    assert_rejected([model], tmp_path, capsys, "ModelOutputError", "NaN")


def test_unsupported_op(shelf, tmp_path, capsys):
    model = str(shelf.get("unsupported_op_model"))
    assert_rejected([model], tmp_path, capsys, "MysteryOp")


def test_shape_for_an_unknown_input(shelf, tmp_path, capsys):
    model = str(shelf.get("tiny_cnn"))
    args = [model, "--shape", "image=1x1x28x28"]
    assert_rejected(args, tmp_path, capsys, "UsageError", "'image'", "pixels")


def test_shape_against_a_fixed_dim(shelf, tmp_path, capsys):
    model = str(shelf.get("tiny_cnn"))
    assert_rejected([model, "--shape", "pixels=1x3x28x28"], tmp_path, capsys, "fixed at 1")


def test_weights_file_is_not_a_model(tmp_path, capsys):
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"\x80\x02")
    assert_rejected([str(weights)], tmp_path, capsys, "UnsupportedModelError", "factory")


def test_unknown_reference_model(tmp_path, capsys):
    assert_rejected(["ref:nonexistent"], tmp_path, capsys, "cnn")


def test_factory_that_cannot_be_imported(tmp_path, capsys):
    assert_rejected(["no_such_pkg.mod:build"], tmp_path, capsys, "ModelLoadError", "no_such_pkg")


def test_factory_without_shapes(tmp_path, capsys, monkeypatch):
    (tmp_path / "netmod.py").write_text(
        "import torch\ndef build():\n    return torch.nn.Linear(3, 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert_rejected(["netmod:build"], tmp_path, capsys, "UsageError", "--shape input=")


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="asserts the error on a machine without CUDA"
)
def test_cuda_requested_without_cuda(shelf, tmp_path, capsys):
    model = str(shelf.get("tiny_cnn"))
    assert_rejected([model, "--device", "cuda"], tmp_path, capsys, "--device cuda", "CUDA")


@pytest.mark.parametrize(
    "args",
    [
        ["--budget", "forever"],
        ["--skip", "profiling"],
        ["--seed", "abc"],
        ["--shape", "pixels"],
        ["--value", "pixels=abc"],
        ["--unknown-flag"],
    ],
)
def test_bad_flags(shelf, tmp_path, capsys, args):
    model = str(shelf.get("tiny_cnn"))
    with pytest.raises(SystemExit) as exited:
        code = main(["audit", model, *args, "--out", str(tmp_path / "audit")])
        raise SystemExit(code)
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "audit").exists()


def test_bad_config_file(shelf, tmp_path, capsys):
    settings = tmp_path / "audit.toml"
    settings.write_text("colour = 'blue'\n")
    model = str(shelf.get("tiny_cnn"))
    assert_rejected([model, "--config", str(settings)], tmp_path, capsys, "colour")


def test_debug_shows_traceback(tmp_path, capsys):
    code = main(["audit", str(tmp_path / "nope.onnx"), "--debug", "--quiet"])
    assert code == 2
    assert "Traceback" in capsys.readouterr().err
