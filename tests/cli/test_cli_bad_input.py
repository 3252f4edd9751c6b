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


# --- intake refuses what it cannot hold (issue 14): empty, huge, impossible --------------

FAST = ["--budget", "quick", "--skip", "explanations", "--skip", "attention"]


def relu_onnx(folder: Path, shape: list, name: str = "x", elem: int = 1) -> Path:
    """``name`` -> Relu -> ``y``, both declared ``shape``, saved unchecked (hostile dims)."""
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Relu", [name], ["y"])],
        "relu",
        [helper.make_tensor_value_info(name, elem, shape)],
        [helper.make_tensor_value_info("y", elem, shape)],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", onnx_builders.OPSET)],
        ir_version=onnx_builders.IR_VERSION,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "relu.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_a_dim_declared_zero_is_dynamic_and_refused_without_a_size(tmp_path, capsys):
    # Declared 0 reads as "any size" (issue 15), so it needs a size, never spins on empty.
    model = relu_onnx(tmp_path / "m", [2, 0])
    assert_rejected([str(model)], tmp_path, capsys, "'x' dim 1 (unnamed and dynamic)", "x=2xN")


def test_data_with_no_rows_is_refused(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", ["batch", 4])
    np.save(tmp_path / "rows.npy", np.zeros((0, 4), np.float32))
    args = [str(model), "--data", str(tmp_path / "rows.npy")]
    assert_rejected(args, tmp_path, capsys, "DataError", "holds no values", "0x4")


def test_a_negative_dim_is_dynamic_and_shape_gives_it_a_size(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", [2, -1])
    assert_rejected([str(model)], tmp_path, capsys, "'x' dim 1 (unnamed and dynamic)", "x=2xN")
    model = relu_onnx(tmp_path / "m", [-1, 4])
    code = main(["audit", str(model), "--shape", "x=3x4", "--out", str(tmp_path / "a"), *FAST])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("dim", "needles"),
    [
        (2**31, ("1x2147483648 float32", "8.0 GiB", "2.0 GiB input limit", "--max-input-bytes")),
        (2**63 - 1, ("9223372036854775807 float32", "more than this machine's")),
    ],
    ids=["2**31", "2**63-1"],
)
def test_a_huge_declared_dim_is_refused_before_allocation(tmp_path, capsys, dim, needles):
    model = relu_onnx(tmp_path / "m", ["batch", dim])
    assert_rejected([str(model)], tmp_path, capsys, "InputResolutionError", *needles)


def test_a_huge_shape_is_refused_and_the_limit_can_be_raised(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", ["batch", "width"])
    args = [str(model), "--shape", "x=1x1000", "--max-input-bytes", "1KiB"]
    err = assert_rejected(args, tmp_path, capsys, "3.9 KiB", "over the 1.0 KiB input limit")
    assert "--max-input-bytes 1MiB" in err
    raised = [str(model), "--shape", "x=1x1000", "--max-input-bytes", "4000"]
    assert main(["audit", *raised, "--out", str(tmp_path / "a"), *FAST]) == 0


def test_the_input_limit_can_be_set_in_the_config_file(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", ["batch", 1000])
    settings = tmp_path / "audit.toml"
    settings.write_text('max_input_bytes = "1KiB"\n')
    args = [str(model), "--config", str(settings)]
    assert_rejected(args, tmp_path, capsys, "over the 1.0 KiB input limit")


@pytest.mark.parametrize("size", ["lots", "-1", "0", "2PiB", "9" * 5000])
def test_a_bad_input_limit_is_a_usage_error(shelf, tmp_path, capsys, size):
    model = str(shelf.get("tiny_cnn"))
    assert_rejected([model, "--max-input-bytes", size], tmp_path, capsys, "--max-input-bytes")


def test_an_npy_header_declaring_petabytes_is_refused_unread(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", ["batch", 4])
    data = tmp_path / "huge.npy"
    with data.open("wb") as handle:
        header = {"descr": "<f4", "fortran_order": False, "shape": (3 * 2**48, 4)}
        np.lib.format.write_array_header_1_0(handle, header)
    args = [str(model), "--data", str(data)]
    assert_rejected(args, tmp_path, capsys, "DataError", "huge.npy (844424930131968x4 float32)")


def test_an_npz_zip_bomb_is_refused_before_it_is_inflated(tmp_path, capsys):
    # 16 MiB of zeros deflated to a few KB, against a 1 MiB limit.
    import zipfile

    model = relu_onnx(tmp_path / "m", ["batch", 4])
    data = tmp_path / "bomb.npz"
    with (
        zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("x.npy", "w") as member,
    ):
        header = {"descr": "<f4", "fortran_order": False, "shape": (2**20, 4)}
        np.lib.format.write_array_header_1_0(member, header)
        for _ in range(16):
            member.write(bytes(2**20))
    assert data.stat().st_size < 100_000
    args = [str(model), "--data", str(data), "--max-input-bytes", "1MiB"]
    assert_rejected(args, tmp_path, capsys, "DataError", "bomb.npz array 'x.npy'", "16.0 MiB")


def test_more_than_64_dims_is_refused(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", [1] * 65)
    assert_rejected([str(model)], tmp_path, capsys, "UnsupportedModelError", "65 dims")


def test_a_name_that_is_not_utf8_is_refused(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m", ["batch", 4], name="inpt")
    model.write_bytes(model.read_bytes().replace(b"inpt", b"in\xfft"))
    assert_rejected([str(model)], tmp_path, capsys, "ModelLoadError", "not valid UTF-8")


def test_a_nul_byte_in_an_external_data_location_is_refused(tmp_path, capsys):
    folder = tmp_path / "m"
    model = onnx_builders.external_data_escaping(folder, "weights.bin")
    model.write_bytes(model.read_bytes().replace(b"weights.bin", b"weig\0ts.bin"))
    assert_rejected([str(model)], folder, capsys, "ModelLoadError", "NUL character")


def test_a_negative_token_id_value_is_refused_like_data(shelf, tmp_path, capsys):
    model = str(shelf.get("token_ids_via_cast"))
    err = assert_rejected([model, "--value", "ids=-5"], tmp_path, capsys, "--value ids=-5")
    assert "table of 50 rows" in err and "[0, 50)" in err
