"""--data: .npz/.npy reading, validation against the declared inputs, hostile files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.core.config import AuditConfig
from harness.core.errors import DataError, UsageError
from harness.core.model import Dim, LoadedModel, TensorSpec
from harness.intake.inputs import resolve_inputs


def spec(name: str, dtype: str, *shape: Dim, index_range: int | None = None) -> TensorSpec:
    return TensorSpec(name=name, dtype=dtype, shape=tuple(shape), index_range=index_range)


IDS = spec("input_ids", "int64", "batch", "sequence", index_range=100)
MASK = spec("attention_mask", "int64", "batch", "sequence")
PIXELS = spec("pixels", "float32", "batch", 1, 4, 4)
TEXT_MODEL = LoadedModel(source="x.onnx", name="x", format="onnx", inputs=(IDS, MASK), outputs=())
IMAGE_MODEL = LoadedModel(source="x.onnx", name="x", format="onnx", inputs=(PIXELS,), outputs=())


def audit(model: LoadedModel, data: Path, **kwargs: object) -> dict[str, np.ndarray]:
    config = AuditConfig(model="x.onnx", data=data, **kwargs)  # type: ignore[arg-type]
    return resolve_inputs(model, config).arrays


def text_arrays(batch: int = 2, length: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "input_ids": rng.integers(0, 100, size=(batch, length)).astype(np.int64),
        "attention_mask": np.ones((batch, length), np.int64),
    }


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def expect_data_error(model: LoadedModel, data: Path, *fragments: str) -> str:
    with pytest.raises(DataError) as caught:
        audit(model, data)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    return message


# --- good files -----------------------------------------------------------------------


def test_npz_round_trip_feeds_the_files_arrays(tmp_path: Path) -> None:
    arrays = text_arrays()
    path = write_npz(tmp_path / "in.npz", **arrays)
    config = AuditConfig(model="x.onnx", data=path)
    resolved = resolve_inputs(TEXT_MODEL, config)
    for name, array in arrays.items():
        assert resolved.arrays[name].dtype == array.dtype
        assert np.array_equal(resolved.arrays[name], array)
    assert {t.source for t in resolved.tensors} == {"data"}
    assert resolved.dims == {"batch": 2, "sequence": 5}
    assert resolved.warnings == ()
    assert not resolved.sequence_defaulted


def test_npy_for_a_one_input_model(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).standard_normal((3, 1, 4, 4)).astype(np.float32)
    path = tmp_path / "pixels.npy"
    np.save(path, pixels)
    fed = audit(IMAGE_MODEL, path)
    assert np.array_equal(fed["pixels"], pixels)


def test_inputs_given_by_value_need_not_be_in_the_data(tmp_path: Path) -> None:
    arrays = text_arrays()
    path = write_npz(tmp_path / "ids.npz", input_ids=arrays["input_ids"])
    resolved = resolve_inputs(
        TEXT_MODEL, AuditConfig(model="x.onnx", data=path, values={"attention_mask": 0})
    )
    assert np.array_equal(resolved.arrays["input_ids"], arrays["input_ids"])
    # The constant takes the shape the data bound.
    assert np.array_equal(resolved.arrays["attention_mask"], np.zeros((2, 5), np.int64))


# --- mismatches -----------------------------------------------------------------------


def test_missing_input(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "in.npz", input_ids=text_arrays()["input_ids"])
    expect_data_error(TEXT_MODEL, path, "'attention_mask'", "int64", "input_ids")


def test_extra_input(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "in.npz", **text_arrays(), labels=np.zeros(2, np.int64))
    expect_data_error(TEXT_MODEL, path, "'labels'", "input_ids, attention_mask")


def test_wrong_dtype_names_input_expected_and_given(tmp_path: Path) -> None:
    arrays = text_arrays()
    arrays["input_ids"] = arrays["input_ids"].astype(np.int32)
    path = write_npz(tmp_path / "in.npz", **arrays)
    expect_data_error(TEXT_MODEL, path, "'input_ids'", "int64", "int32")


def test_wrong_rank(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "in.npz", pixels=np.zeros((1, 4, 4), np.float32))
    expect_data_error(IMAGE_MODEL, path, "'pixels'", "expects 4 dims", "gives 3")


def test_wrong_fixed_dim(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "in.npz", pixels=np.zeros((1, 3, 4, 4), np.float32))
    expect_data_error(IMAGE_MODEL, path, "'pixels' dim 1", "fixed at 1", "3")


def test_inconsistent_symbolic_dim_between_inputs(tmp_path: Path) -> None:
    arrays = text_arrays()
    arrays["attention_mask"] = np.ones((2, 6), np.int64)
    path = write_npz(tmp_path / "in.npz", **arrays)
    expect_data_error(TEXT_MODEL, path, "'attention_mask' dim 1", "'sequence'", "5", "6")


@pytest.mark.parametrize("bad_id", [100, -1])
def test_token_id_out_of_range(tmp_path: Path, bad_id: int) -> None:
    arrays = text_arrays()
    arrays["input_ids"][1, 3] = bad_id
    path = write_npz(tmp_path / "in.npz", **arrays)
    expect_data_error(TEXT_MODEL, path, "'input_ids'", "100 rows", str(bad_id))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_float_data(tmp_path: Path, bad: float) -> None:
    pixels = np.zeros((1, 1, 4, 4), np.float32)
    pixels[0, 0, 2, 1] = bad
    path = write_npz(tmp_path / "in.npz", pixels=pixels)
    expect_data_error(IMAGE_MODEL, path, "'pixels'", "NaN")


def test_npy_for_a_two_input_model_suggests_npz(tmp_path: Path) -> None:
    path = tmp_path / "ids.npy"
    np.save(path, text_arrays()["input_ids"])
    expect_data_error(TEXT_MODEL, path, ".npz", "input_ids, attention_mask")


def test_shape_contradicting_the_data_is_refused(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "in.npz", **text_arrays(batch=2, length=5))
    with pytest.raises(UsageError, match="already 5"):
        audit(TEXT_MODEL, path, shapes={"input_ids": (2, 7)})


# --- files that are not data ----------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    expect_data_error(TEXT_MODEL, tmp_path / "nope.npz", "nope.npz", "does not exist")


def test_random_bytes_npz(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(0).bytes(512))
    expect_data_error(TEXT_MODEL, path, "junk.npz", "cannot be read")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    expect_data_error(TEXT_MODEL, path, "empty.npz", "cannot be read")


def test_truncated_npz(tmp_path: Path) -> None:
    good = write_npz(tmp_path / "good.npz", **text_arrays())
    path = tmp_path / "half.npz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    expect_data_error(TEXT_MODEL, path, "half.npz", "cannot be read")


def test_corrupt_compressed_member(tmp_path: Path) -> None:
    # The zip directory is intact but the deflated bytes of a member are garbage.
    arrays = {
        "input_ids": np.arange(4000, dtype=np.int64).reshape(2, 2000) % 100,
        "attention_mask": np.ones((2, 2000), np.int64),
    }
    good = tmp_path / "good.npz"
    np.savez_compressed(good, **arrays)
    data = bytearray(good.read_bytes())
    for i in range(100, 300):
        data[i] ^= 0xFF
    path = tmp_path / "corrupt.npz"
    path.write_bytes(bytes(data))
    expect_data_error(TEXT_MODEL, path, "corrupt.npz", "cannot be read")


class _Boom:
    """Unpickling this would raise: proves a data file's pickle is never loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_explode, ("unpickled",))


def _explode(text: str) -> None:
    raise AssertionError(f"a data file was {text}")


def test_pickled_object_npy_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([_Boom(), None], dtype=object), allow_pickle=True)
    expect_data_error(IMAGE_MODEL, path, "evil.npy", "cannot be read")


def test_pickled_object_npz_member_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, pixels=np.array([_Boom(), None], dtype=object))
    expect_data_error(IMAGE_MODEL, path, "evil.npz", "cannot be read")


def test_other_suffix_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "inputs.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(UsageError) as caught:
        audit(TEXT_MODEL, path)
    assert "inputs.csv" in str(caught.value) and ".npz" in str(caught.value)


# --- empty and oversized files: refused from their headers, before any data is read ------


def test_an_empty_array_is_refused(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "empty.npz", **text_arrays(batch=0))
    message = expect_data_error(TEXT_MODEL, path, "'input_ids'", "holds no values", "0x5")
    assert "at least one sample" in message


@pytest.fixture
def unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if np.load reads the file: a refusal must come from the headers."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data was read before its size was checked")

    monkeypatch.setattr("harness.intake.data_file.np.load", refuse)


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """The bytes of a version 1.0 .npy header declaring ``shape``, and no data."""
    import io

    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


@pytest.mark.usefixtures("unread")
def test_an_npy_header_declaring_petabytes_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header((3 * 2**48, 1, 4, 4)) + b"\0" * 64)
    message = expect_data_error(IMAGE_MODEL, path, "huge.npy", "844424930131968x1x4x4 float32")
    assert "PiB" in message or "TiB" in message


@pytest.mark.usefixtures("unread")
def test_an_npz_member_header_declaring_a_huge_array_is_refused_unread(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("input_ids.npy", npy_header((2**20, 2**20), "<i8") + b"\0" * 64)
    message = expect_data_error(TEXT_MODEL, path, "bomb.npz array 'input_ids.npy'")
    assert "1048576x1048576 int64" in message and "8.0 TiB" in message


def zeros_member(archive: object, name: str, header: bytes, zero_bytes: int) -> None:
    """Write ``header`` then ``zero_bytes`` zeros into member ``name``, deflated: a few KB
    on disk for megabytes uncompressed."""
    with archive.open(name, "w") as member:  # type: ignore[attr-defined]
        member.write(header)
        for _ in range(zero_bytes // 2**20):
            member.write(bytes(2**20))


@pytest.mark.usefixtures("unread")
@pytest.mark.parametrize("honest", [True, False], ids=["header", "zip-size"])
def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path: Path, honest: bool) -> None:
    # 8 MiB of zeros in a file of a few KB, against a 1 MiB limit; the member's header
    # either declares those 8 MiB or lies (4 values): the zip's own size still counts.
    import zipfile

    path = tmp_path / "bomb.npz"
    shape = (1, 2**21) if honest else (1, 4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        zeros_member(archive, "pixels.npy", npy_header(shape), 8 * 2**20)
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(DataError) as caught:
        audit(IMAGE_MODEL, path, max_input_bytes=2**20)
    message = str(caught.value)
    assert "bomb.npz array 'pixels.npy'" in message and "8.0 MiB" in message
    assert "over the 1.0 MiB input limit" in message and "--max-input-bytes 9MiB" in message


def test_the_arrays_of_a_file_count_together(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "in.npz", **text_arrays(batch=2, length=50))
    with pytest.raises(DataError) as caught:
        audit(TEXT_MODEL, path, max_input_bytes=1000)
    assert "with the other inputs" in str(caught.value)
    assert audit(TEXT_MODEL, path, max_input_bytes=2000)["input_ids"].shape == (2, 50)


def test_an_npz_member_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "raw.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pixels", b"just some bytes")
    expect_data_error(IMAGE_MODEL, path, "raw.npz:pixels", "not a numpy array")
