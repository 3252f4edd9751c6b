"""Task samples fed to models that name a reference task, the fallbacks around them, and
the N samples a stage asks for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest

from harness.core.config import AuditConfig
from harness.core.errors import InputResolutionError, UsageError
from harness.intake.inputs import resolve_inputs
from harness.intake.loader import load_model
from harness.intake.samples import stage_samples
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


# --- stage_samples: N samples for a stage ----------------------------------------------


def stage_samples_of(path: Path, count: int, **settings):
    config = AuditConfig(model=str(path), **settings)
    model = load_model(config)
    inputs = resolve_inputs(model, config)
    return inputs, stage_samples(
        model, inputs, config.seed, count, batched=frozenset(inputs.arrays)
    )


def test_a_stage_asking_for_no_more_than_the_batch_gets_the_audits_own(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="digits")
    inputs, samples = stage_samples_of(model, 2, shapes={"pixels": (3, 1, 28, 28)})
    np.testing.assert_array_equal(samples.arrays["pixels"], inputs.arrays["pixels"][:2])
    assert samples.count == 2 and samples.source == "the audit's first 2 samples"
    np.testing.assert_array_equal(samples.labels, load_task("digits").y_test[:2])


def test_a_stage_asking_for_more_gets_the_tasks_test_split(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="digits")
    _, samples = stage_samples_of(model, 5)
    digits = load_task("digits")
    np.testing.assert_array_equal(samples.arrays["pixels"], digits.test["pixels"][:5])
    np.testing.assert_array_equal(samples.labels, digits.y_test[:5])
    assert samples.source == "test samples 0-4 of task 'digits'" and samples.notes == ()


def test_a_test_split_smaller_than_asked_for_is_given_whole_with_a_note(tiny_cnn, tmp_path):
    model = tagged_copy(tiny_cnn, tmp_path / "m.onnx", harness_task="digits")
    _, samples = stage_samples_of(model, 1000)
    assert samples.count == 360 and len(samples.labels) == 360
    assert samples.notes == ("task 'digits' has 360 test samples; 360 explained",)


def test_synthetic_samples_are_extended_with_further_seeds(tiny_cnn):
    inputs, samples = stage_samples_of(tiny_cnn, 3, seed=7)
    pixels = samples.arrays["pixels"]
    assert pixels.shape == (3, 1, 28, 28) and samples.labels is None
    np.testing.assert_array_equal(pixels[:1], inputs.arrays["pixels"])
    assert not np.array_equal(pixels[0], pixels[1])
    assert samples.source == "3 synthetic samples (the audit's inputs, then seeds 8, 9, ...)"


def test_data_is_never_mixed_with_synthetic_samples(tiny_cnn, tmp_path):
    np.savez(tmp_path / "d.npz", pixels=np.full((2, 1, 28, 28), 0.5, np.float32))
    _, samples = stage_samples_of(tiny_cnn, 5, data=tmp_path / "d.npz")
    assert samples.count == 2 and samples.source == "--data"
    assert (samples.arrays["pixels"] == 0.5).all()
    assert samples.notes[0].startswith("--data holds 2 sample(s) and 5 were asked for")


def test_synthetic_samples_stop_at_the_count_when_the_batch_does_not_divide_it(tiny_cnn):
    _, samples = stage_samples_of(tiny_cnn, 5, shapes={"pixels": (2, 1, 28, 28)})
    assert samples.count == 5 and samples.arrays["pixels"].shape == (5, 1, 28, 28)
    # The draws are seeded: the same count gives the same samples.
    _, again = stage_samples_of(tiny_cnn, 5, shapes={"pixels": (2, 1, 28, 28)})
    np.testing.assert_array_equal(samples.arrays["pixels"], again.arrays["pixels"])


def test_an_empty_batch_is_refused_instead_of_extended_forever(tiny_cnn):
    # Intake refuses empty inputs; were one to reach a stage, "draw until N samples" would
    # never finish (each draw adds none). It is an error instead.
    config = AuditConfig(model=str(tiny_cnn))
    model = load_model(config)
    inputs = resolve_inputs(model, config)
    empty = dataclasses.replace(inputs, arrays={"pixels": np.zeros((0, 1, 28, 28), np.float32)})
    with pytest.raises(InputResolutionError, match="'pixels' holds no samples"):
        stage_samples(model, empty, 0, 4, batched=frozenset({"pixels"}))


def test_synthetic_samples_stay_within_the_input_limit_with_a_note(tiny_cnn):
    # One sample is 28*28*4 = 3136 bytes; a 10 KB limit holds 3 of the 8 asked for.
    _, samples = stage_samples_of(tiny_cnn, 8, max_input_bytes=10_000)
    assert samples.count == 3 and samples.arrays["pixels"].shape == (3, 1, 28, 28)
    (note,) = samples.notes
    assert note.startswith("8 samples were asked for and 3 used")
    assert "over the 9.8 KiB input limit (--max-input-bytes)" in note
