"""The planted-patch task: seeded, balanced, exact ground truth; the committed cnn_patch."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness.models import get_reference
from harness.models.tasks import load_task
from harness.models.tasks.planted_patch import (
    IMAGE_SIZE,
    N_CLASSES,
    NOISE_MAX,
    PATTERN_SIZE,
    PATTERN_VALUE,
    PATTERNS,
    generate,
)
from harness.models.train import TrainConfig, accuracy, train_reference


@pytest.fixture(scope="module")
def task():
    return load_task("planted_patch")


@pytest.fixture(scope="module")
def sample():
    return generate(200, seed=7)


# ---------------------------------------------------------------------------- data


def test_generation_is_deterministic_for_a_seed(sample):
    for first, second in zip(sample, generate(200, seed=7), strict=True):
        np.testing.assert_array_equal(first, second)


def test_another_seed_gives_other_samples(sample):
    images, labels, masks = generate(200, seed=8)
    assert not np.array_equal(images, sample[0])
    assert not np.array_equal(labels, sample[1])
    assert not np.array_equal(masks, sample[2])


def test_shapes_dtypes_and_ranges(sample):
    images, labels, masks = sample
    assert images.shape == masks.shape == (200, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert labels.shape == (200,)
    assert (images.dtype, labels.dtype, masks.dtype) == (np.float32, np.int64, np.bool_)
    assert images.min() >= 0.0
    assert images.max() <= 1.0
    assert set(labels.tolist()) == set(range(N_CLASSES))


def test_patterns_are_distinct_and_fill_their_box():
    assert PATTERNS.shape == (N_CLASSES, PATTERN_SIZE, PATTERN_SIZE)
    flat = PATTERNS.reshape(N_CLASSES, -1)
    assert len({row.tobytes() for row in flat}) == N_CLASSES
    for pattern in PATTERNS:  # every pattern touches all four sides of its 5x5 box
        assert pattern.any(axis=0).all()
        assert pattern.any(axis=1).all()


def test_mask_marks_exactly_the_planted_pattern(sample):
    images, labels, masks = sample
    # Planted pixels hold PATTERN_VALUE; background noise stays below NOISE_MAX.
    np.testing.assert_array_equal(masks, images == PATTERN_VALUE)
    assert images[~masks].max() < NOISE_MAX
    for mask, label in zip(masks[:, 0], labels, strict=True):
        rows, cols = np.nonzero(mask)
        top, left = rows.min(), cols.min()
        assert (rows.max() - top, cols.max() - left) == (PATTERN_SIZE - 1, PATTERN_SIZE - 1)
        box = mask[top : top + PATTERN_SIZE, left : left + PATTERN_SIZE]
        np.testing.assert_array_equal(box, PATTERNS[label])
        assert mask.sum() == PATTERNS[label].sum()  # one pattern, nothing outside its box


def test_labels_are_balanced(task):
    for labels in (task.y_train, task.y_test):
        counts = np.bincount(labels, minlength=N_CLASSES)
        assert counts.max() - counts.min() <= 1


def test_load_gives_the_fixed_split_with_test_masks(task):
    assert task.name == "planted_patch"
    assert task.primary_input == "pixels"
    assert task.train["pixels"].shape == (3000, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert task.test["pixels"].shape == (600, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert task.test_masks is not None
    assert task.test_masks.shape == task.test["pixels"].shape
    np.testing.assert_array_equal(task.test_masks, task.test["pixels"] == PATTERN_VALUE)
    # Train and test come from different seeds: no test image is a training image.
    assert not np.array_equal(task.train["pixels"][:600], task.test["pixels"])


def test_task_classes_match_the_cnn_patch_outputs(task):
    reference = get_reference("cnn_patch")
    assert reference.task == "planted_patch"
    assert reference.outputs[0].shape == ("batch", task.n_classes)


# ---------------------------------------------------------------------------- cnn_patch


def test_committed_cnn_patch_reaches_its_floor(task):
    module = get_reference("cnn_patch").build()
    assert accuracy(module, task.test["pixels"], task.y_test) >= 0.98


def test_committed_cnn_patch_onnx_agrees_with_torch(task):
    reference = get_reference("cnn_patch")
    model = onnx.load(reference.onnx_path)
    props = {p.key: p.value for p in model.metadata_props}
    assert props == {"harness.reference": "cnn_patch", "harness.task": "planted_patch"}
    images = task.test["pixels"][:8]
    session = ort.InferenceSession(reference.onnx_path, providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"pixels": images})
    with torch.no_grad():
        want = reference.build()(torch.from_numpy(images)).numpy()
    assert got.shape == (8, N_CLASSES)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_short_training_is_clearly_above_chance():
    # About 2 s; smaller runs (512 samples, 2 epochs) are still on the 25% plateau.
    trained = train_reference(
        get_reference("cnn_patch"), TrainConfig(epochs=3, max_train_samples=1536)
    )
    assert trained.n_train == 1536
    assert trained.test_accuracy > 0.5  # chance is 0.25; this run measures 0.975
