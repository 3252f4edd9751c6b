"""The digits task: scikit-learn's bundled 8x8 digits, upsampled to 28x28.

The data ships inside scikit-learn, so training and the tests never touch the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.models.tasks import TaskData

__all__ = ["IMAGE_SIZE", "N_CLASSES", "DigitsSplit", "load", "load_digits_split"]

IMAGE_SIZE = 28
N_CLASSES = 10
TEST_FRACTION = 0.2
SPLIT_SEED = 0
# load_digits() pixels are counts of "on" cells in a 4x4 block of the original 32x32 bitmap.
_MAX_PIXEL = 16.0


@dataclass(frozen=True)
class DigitsSplit:
    """A fixed train/test split: images (N,1,28,28) float32 in [0,1], labels (N,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split() -> DigitsSplit:
    """The stratified 80/20 split every reference run uses; identical on every call."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = _upsample(digits.images.astype(np.float32) / _MAX_PIXEL)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    return DigitsSplit(x_train, y_train, x_test, y_test)


def load() -> TaskData:
    """The digits split as a ``TaskData`` (no ground-truth masks: this is real data)."""
    split = load_digits_split()
    return TaskData(
        name="digits",
        train={"pixels": split.x_train},
        y_train=split.y_train,
        test={"pixels": split.x_test},
        y_test=split.y_test,
        test_masks=None,
        primary_input="pixels",
        n_classes=N_CLASSES,
    )


def _upsample(images: np.ndarray) -> np.ndarray:
    """(N,8,8) -> (N,1,28,28), the MNIST-like size the reference CNN expects."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        batch = torch.from_numpy(images).unsqueeze(1)
        resized = F.interpolate(
            batch, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False
        )
    # Bilinear interpolation of values in [0,1] stays in [0,1]; clip guards float rounding.
    return np.ascontiguousarray(resized.numpy().clip(0.0, 1.0), dtype=np.float32)
