"""Task samples fed to models that name a reference task, and the fallbacks around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from harness.core.config import AuditConfig
from harness.core.errors import UsageError
from harness.intake.inputs import resolve_inputs
from harness.intake.loader import load_model
from harness.models.tasks import load_task
from harness.testing import onnx_builders


def tagged_copy(source: Path, dest: Path, **metadata: str) -> Path:
    model = onnx.load(str(source))
    for key, value in metadata.items():
        model.metadata_props.add(key=key.replace("_", "."), value=value)
    onnx.save(model, str(dest))
    return dest


@pytest.fixture(scope="module")
def tiny_cnn(tmp_path_factory) -> Path:
    return onnx_builders.tiny_cnn(tmp_path_factory.mktemp("tiny"))


def resolve(path: Path, **settings):
    config = AuditConfig(model=str(path), **settings)
    return resolve_inputs(load_model(config), config)


def test_a_model_naming_its_task_gets_real_test_samples(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="digits")
    resolved = resolve(model, shapes={"pixels": (3, 1, 28, 28)})
    digits = load_task("digits")
    np.testing.assert_array_equal(resolved.arrays["pixels"], digits.test["pixels"][:3])
    assert resolved.task is not None
    np.testing.assert_array_equal(resolved.task.labels, digits.y_test[:3])
    (fed,) = resolved.tensors
    assert fed.source == "task" and "digits" in fed.generator
    assert resolved.warnings == ()


def test_unknown_task_falls_back_to_synthetic_with_a_warning(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="imagenet")
    resolved = resolve(model)
    assert resolved.task is None and resolved.tensors[0].source == "synthetic"
    assert any("'imagenet'" in w and "synthetic" in w for w in resolved.warnings)


def test_task_with_other_inputs_falls_back(shelf_free_two_inputs, tmp_path):
    model = tagged_copy(shelf_free_two_inputs, tmp_path / "m.onnx", harness_task="digits")
    resolved = resolve(model)
    assert resolved.task is None
    assert any("not the task's" in w for w in resolved.warnings)


@pytest.fixture(scope="module")
def shelf_free_two_inputs(tmp_path_factory) -> Path:
    return onnx_builders.two_in_two_out(tmp_path_factory.mktemp("two"))


def test_data_file_wins_over_the_task(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="digits")
    pixels = np.full((2, 1, 28, 28), 0.5, np.float32)
    np.savez(tmp_path / "d.npz", pixels=pixels)
    resolved = resolve(model, data=tmp_path / "d.npz")
    assert resolved.task is None and resolved.tensors[0].source == "data"


def test_batch_larger_than_the_test_split_is_a_usage_error(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="digits")
    with pytest.raises(UsageError, match="test split holds 360"):
        resolve(model, shapes={"pixels": (100_000, 1, 28, 28)})


def test_reference_model_feeds_its_task():
    config = AuditConfig(model="ref:cnn")
    resolved = resolve_inputs(load_model(config), config)
    assert resolved.task is not None and resolved.task.task == "digits"
    assert resolved.arrays["pixels"].shape == (1, 1, 28, 28)
