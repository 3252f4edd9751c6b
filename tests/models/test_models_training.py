"""The digits split is fixed and stratified; CNN training is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.models import get_reference
from harness.models.tasks.digits import IMAGE_SIZE, N_CLASSES, load_digits_split
from harness.models.train import TrainConfig, state_dict_bytes, train_reference

SMALL = TrainConfig(epochs=1, max_train_samples=256)


def train_cnn(config: TrainConfig):
    return train_reference(get_reference("cnn"), config)


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


# ---------------------------------------------------------------------------- data


def test_split_sizes_shapes_and_ranges(split):
    assert split.x_train.shape == (1437, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert split.x_test.shape == (360, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert split.y_train.shape == (1437,)
    assert split.y_test.shape == (360,)
    for images in (split.x_train, split.x_test):
        assert images.dtype == np.float32
        assert images.min() >= 0.0
        assert images.max() <= 1.0
    assert split.y_train.dtype == split.y_test.dtype == np.int64


def test_split_is_stratified(split):
    train_counts = np.bincount(split.y_train, minlength=N_CLASSES)
    test_counts = np.bincount(split.y_test, minlength=N_CLASSES)
    expected_test = (train_counts + test_counts) * len(split.y_test) / 1797
    assert np.all(np.abs(test_counts - expected_test) <= 1)


def test_split_is_fixed(split):
    again = load_digits_split()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(split, name), getattr(again, name))
    # Pinned: the committed model's accuracy is measured on exactly these test images.
    assert split.y_test[:20].tolist() == [
        7,
        6,
        3,
        7,
        7,
        3,
        2,
        8,
        9,
        3,
        2,
        6,
        6,
        4,
        5,
        8,
        1,
        3,
        5,
        6,
    ]


# ---------------------------------------------------------------------------- training


def test_training_is_deterministic(split):
    first = train_cnn(SMALL)
    second = train_cnn(SMALL)
    assert state_dict_bytes(first.module) == state_dict_bytes(second.module)
    assert first.test_accuracy == second.test_accuracy
    assert first.n_train == 256
    assert first.n_test == 360


def test_another_seed_gives_other_weights(split):
    default = train_cnn(SMALL)
    other = train_cnn(TrainConfig(epochs=1, max_train_samples=256, seed=1))
    assert state_dict_bytes(default.module) != state_dict_bytes(other.module)


def test_training_leaves_global_torch_state_alone(split):
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.get_rng_state()
    train_cnn(TrainConfig(epochs=1, max_train_samples=64))
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng_state)
