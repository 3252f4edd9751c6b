"""The PyTorch twin on exports from the wild, through the CLI: a batch fixed at 1, a second
size the model cannot run, a static-shape dynamo export, and integer inputs embedded by a
Gather or by a one-hot product. Gradient methods run on each (not skipped), the twin's
record names the sizes it was checked at, and every skip or note says something true."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.core.result import AuditResult
from harness.testing.wild import twin as wild

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "cnn_batch_one": wild.build_cnn_batch_one,
    "pool_collapse": wild.build_pool_collapse,
    "static_transformer": wild.build_static_transformer,
    "byte_classifier": wild.build_byte_classifier,
    "one_hot_classifier": wild.build_one_hot_classifier,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("wild_twin")
    return {name: str(build(folder)) for name, build in BUILDERS.items()}


def explain(model: str, out: Path, *extra: str) -> dict[str, Any]:
    """A quick audit of the explanations alone; its result, schema-checked."""
    args = ["audit", model, "--out", str(out), "--quiet", "--budget", "quick", "--threads", "1"]
    code = main([*args, "--skip", "efficiency", "--skip", "attention", *extra])
    assert code == 0
    data: dict[str, Any] = json.loads((out / "result.json").read_text())
    assert AuditResult.from_dict(data).to_dict() == data
    return data


def methods_of(section: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in section["methods"]}


def checked_sizes(section: dict[str, Any]) -> list[dict[str, list[int]]]:
    return [check["input_shapes"] for check in section["conversion"]["parity"]]


def assert_ran_on_the_twin(section: dict[str, Any], *names: str) -> None:
    methods = methods_of(section)
    for name in names:
        assert methods[name]["status"] == "ok", methods[name]["reason"]
        assert methods[name]["backend"] == "twin"


def test_a_batch_fixed_at_one_is_checked_on_one_row_and_explained_four_rows(models, tmp_path):
    data = explain(
        models["cnn_batch_one"],
        tmp_path / "audit",
        "--explainers",
        "saliency,integrated_gradients,layer_gradcam,deeplift",
    )
    assert data["model"]["inputs"][0]["shape"] == [1, 3, 16, 16]
    section = data["explanations"]
    assert section["status"] == "ok" and section["samples"] == 4
    conversion = section["conversion"]
    assert (conversion["status"], conversion["reason"]) == ("converted", None)
    # The graph takes one row: parity on the first sample, no invented second size.
    assert checked_sizes(section) == [{"pixels": [1, 3, 16, 16]}]
    assert all(check["outputs"][0]["ok"] for check in conversion["parity"])
    assert_ran_on_the_twin(section, "saliency", "integrated_gradients", "layer_gradcam")
    deeplift = methods_of(section)["deeplift"]
    assert deeplift["status"] == "skipped"
    # True: DeepLift runs inputs and baselines together (2 x 4 rows); the graph takes 1.
    assert deeplift["reason"] == (
        "DeepLift compares each input with its baseline inside one forward pass of both, and "
        "this model's graph fixes its batch at 1 (a pass of 8 rows would have to be split)"
    )


def test_a_second_size_the_model_cannot_run_is_a_note_not_a_mismatch(models, tmp_path):
    side = wild.POOL_COLLAPSE_MIN_SIDE
    data = explain(
        models["pool_collapse"],
        tmp_path / "audit",
        "--shape",
        f"pixels=2x3x{side}x{side}",
        "--explainers",
        "saliency,integrated_gradients",
    )
    section = data["explanations"]
    conversion = section["conversion"]
    assert conversion["status"] == "converted"
    # Halving the side fails; the batch grown alone is checked instead.
    assert checked_sizes(section) == [
        {"pixels": [4, 3, side, side]},
        {"pixels": [5, 3, side, side]},
    ]
    assert all(check["outputs"][0]["ok"] for check in conversion["parity"])
    half = side // 2
    assert conversion["reason"].startswith(
        f"checked at input sizes pixels 4x3x{side}x{side} and pixels 5x3x{side}x{side}; "
        f"not checked at pixels 5x3x{half}x{half}: "
    )
    assert "Output size is too small" in conversion["reason"]
    assert_ran_on_the_twin(section, "saliency", "integrated_gradients")
    _assert_twin_cannot_run(models["pool_collapse"], (5, 3, half, half))


def _assert_twin_cannot_run(path: str, shape: tuple[int, ...]) -> None:
    """The note's claim, checked on a twin built outside the audit."""
    from harness.intake.onnx_model import load_onnx
    from harness.twin import TorchTwin, to_torch

    model = load_onnx(path)
    twin = to_torch(model, {"pixels": np.zeros((2, 3, 32, 32), np.float32)})
    assert isinstance(twin, TorchTwin)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        twin.forward_numpy({"pixels": np.zeros(shape, np.float32)})


def test_a_static_shape_dynamo_export_keeps_its_gradient_methods(models, tmp_path):
    data = explain(models["static_transformer"], tmp_path / "audit")
    model_input = data["model"]["inputs"][0]
    assert model_input["shape"] == [wild.STATIC_BATCH, wild.STATIC_SEQUENCE]
    section = data["explanations"]
    assert section["status"] == "ok" and section["modality"] == "tokens"
    assert section["conversion"]["status"] == "converted"
    assert section["conversion"]["reason"] is None
    assert checked_sizes(section) == [{"input_ids": [wild.STATIC_BATCH, wild.STATIC_SEQUENCE]}]
    assert_ran_on_the_twin(section, "saliency", "layer_integrated_gradients")


@pytest.mark.parametrize(
    ("name", "input_name", "length", "converter"),
    [
        ("byte_classifier", "byte_ids", wild.BYTE_LENGTH, None),
        ("one_hot_classifier", "ids", wild.ONE_HOT_LENGTH, "OneHot-11"),
    ],
)
def test_integer_inputs_are_attributed_at_their_embedding(
    models, tmp_path, name, input_name, length, converter
):
    data = explain(models[name], tmp_path / "audit")
    section = data["explanations"]
    assert section["status"] == "ok" and section["modality"] == "tokens"
    conversion = section["conversion"]
    assert (conversion["status"], conversion["reason"]) == ("converted", None)
    assert checked_sizes(section) == [{input_name: [4, length]}, {input_name: [5, length]}]
    if converter is not None:
        assert converter in conversion["custom_converters"]
    assert_ran_on_the_twin(section, "saliency", "layer_integrated_gradients")
    for method in ("saliency", "layer_integrated_gradients"):
        shown = methods_of(section)[method]["attributions"][0]
        # One score per token (summed over the embedding), not one per table row.
        assert shown["original_shape"] == [length]
    assert all(m["status"] == "ok" for m in section["methods"]), section["methods"]
