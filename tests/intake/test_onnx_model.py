"""Loading hostile .onnx files: every string UTF-8, external-data locations a file system can
take, ranks numpy can hold; declared sizes are kept for input resolution to judge."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from harness.core.errors import ModelLoadError, UnsupportedModelError
from harness.intake.onnx_model import load_onnx
from harness.testing import onnx_builders


def relu_model(shape: list[int | str | None], name: str = "x") -> onnx.ModelProto:
    """``name`` -> Relu -> ``y``, both of ``shape``."""
    graph = helper.make_graph(
        [helper.make_node("Relu", [name], ["y"])],
        "relu",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", onnx_builders.OPSET)],
        ir_version=onnx_builders.IR_VERSION,
    )


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("where", ["input name", "metadata"])
def test_a_string_that_is_not_utf8_is_a_load_error_naming_the_field(
    tmp_path: Path, where: str
) -> None:
    model = relu_model(["batch", 4], name="inpt")
    if where == "metadata":
        model.metadata_props.add(key="author", value="mark")
    # protobuf will not write invalid UTF-8: patch the serialized bytes instead.
    marker = b"inpt" if where == "input name" else b"mark"
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString().replace(marker, marker[:2] + b"\xff" + marker[3:]))
    with pytest.raises(ModelLoadError) as caught:
        load_onnx(str(path))
    message = str(caught.value)
    assert "not valid UTF-8" in message and "\\xff" in message
    field = "model.graph.node[0].input[0]" if where == "input name" else "model.metadata_props"
    assert field in message


def external_weight(location: str) -> onnx.ModelProto:
    """``x @ W`` with W's data declared at ``location`` (nothing written there)."""
    weight = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4, 4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        weight.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[weight],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", onnx_builders.OPSET)],
        ir_version=onnx_builders.IR_VERSION,
    )


def test_a_nul_byte_in_an_external_data_location_is_a_load_error(tmp_path: Path) -> None:
    path = save(external_weight("w\0.bin"), tmp_path / "m.onnx")
    with pytest.raises(ModelLoadError) as caught:
        load_onnx(str(path))
    assert "tensor 'W'" in str(caught.value) and "NUL character" in str(caught.value)


def test_a_location_the_file_system_cannot_look_up_is_a_load_error(tmp_path: Path) -> None:
    path = save(external_weight("w" * 5000 + ".bin"), tmp_path / "m.onnx")
    with pytest.raises(ModelLoadError) as caught:
        load_onnx(str(path))
    assert "tensor 'W'" in str(caught.value) and "cannot be looked up" in str(caught.value)


def test_external_data_outside_the_folder_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.bin").write_bytes(bytes(64))
    (tmp_path / "m").mkdir()
    path = save(external_weight("../elsewhere/w.bin"), tmp_path / "m" / "m.onnx")
    with pytest.raises(ModelLoadError, match="outside the model's folder"):
        load_onnx(str(path))


@pytest.mark.parametrize("rank", [65, 100])
def test_more_dims_than_numpy_holds_is_refused_at_load(tmp_path: Path, rank: int) -> None:
    path = save(relu_model([1] * rank), tmp_path / "m.onnx")
    with pytest.raises(UnsupportedModelError) as caught:
        load_onnx(str(path))
    assert f"'x' declares {rank} dims" in str(caught.value) and "at most 64" in str(caught.value)


def test_sixty_four_dims_load(tmp_path: Path) -> None:
    path = save(relu_model([1] * 64), tmp_path / "m.onnx")
    assert load_onnx(str(path)).inputs[0].rank == 64


def test_declared_sizes_are_kept_for_input_resolution_to_judge(tmp_path: Path) -> None:
    path = save(relu_model([2**63 - 1, 4]), tmp_path / "m.onnx")
    assert load_onnx(str(path)).inputs[0].shape == (2**63 - 1, 4)


@pytest.mark.parametrize("declared", [0, -1])
def test_non_positive_declared_sizes_read_as_dynamic(tmp_path: Path, declared: int) -> None:
    # Exporters write -1 (or 0) for "any size" (issue 15): an unnamed dynamic dim.
    path = save(relu_model([declared, 4]), tmp_path / "m.onnx")
    assert load_onnx(str(path)).inputs[0].shape == (None, 4)
