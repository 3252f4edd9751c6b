"""The planted-patch task: noise images holding one small pattern; the pattern is the class.

Each 28x28 grey image is uniform background noise in ``[0, NOISE_MAX]`` with exactly one
of four 5x5 patterns written into it at a random position::

    0 cross        1 square outline   2 diagonal     3 filled block
    . . # . .      # # # # #          # . . . .      # # # # #
    . . # . .      # . . . #          . # . . .      # # # # #
    # # # # #      # . . . #          . . # . .      # # # # #
    . . # . .      # . . . #          . . . # .      # # # # #
    . . # . .      # # # # #          . . . . #      # # # # #

Writing a pattern sets its ``#`` pixels to ``PATTERN_VALUE`` (1.0) and leaves every other
pixel, the rest of its 5x5 box included, as background. Background noise never reaches
``PATTERN_VALUE``, so the planted pixels are exactly the pixels equal to it.

The ground-truth mask of a sample marks exactly the planted pixels (the pattern's ``#``
pixels, not its 5x5 bounding box): nothing else in the image carries any information about
the class, so a faithful attribution puts its mass there.
"""

from __future__ import annotations

import numpy as np

from harness.models.tasks import TaskData

__all__ = [
    "IMAGE_SIZE",
    "NOISE_MAX",
    "N_CLASSES",
    "PATTERNS",
    "PATTERN_NAMES",
    "PATTERN_SIZE",
    "PATTERN_VALUE",
    "generate",
    "load",
]

IMAGE_SIZE = 28
PATTERN_SIZE = 5
NOISE_MAX = 0.5  # background pixels are uniform in [0, NOISE_MAX)
PATTERN_VALUE = 1.0  # every planted pixel has exactly this value
N_TRAIN, N_TEST = 3000, 600
TRAIN_SEED, TEST_SEED = 0, 1

PATTERN_NAMES = ("cross", "square_outline", "diagonal", "filled_block")


def _patterns() -> np.ndarray:
    """(4, 5, 5) bool: the footprint of each class's pattern, indexed by label."""
    size, mid = PATTERN_SIZE, PATTERN_SIZE // 2
    cross = np.zeros((size, size), dtype=bool)
    cross[mid, :] = cross[:, mid] = True
    outline = np.ones((size, size), dtype=bool)
    outline[1:-1, 1:-1] = False
    diagonal = np.eye(size, dtype=bool)
    block = np.ones((size, size), dtype=bool)
    patterns = np.stack([cross, outline, diagonal, block])
    patterns.setflags(write=False)
    return patterns


PATTERNS = _patterns()
N_CLASSES = len(PATTERNS)


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples, the same for the same ``seed``: images, labels and masks.

    images: (n,1,28,28) float32 in [0,1]; labels: (n,) int64, each class ``n // 4`` or
    ``n // 4 + 1`` times, in random order; masks: (n,1,28,28) bool, True exactly on the
    planted pixels (``images[masks] == PATTERN_VALUE`` and nowhere else).
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    images = rng.uniform(0.0, NOISE_MAX, size=(n, 1, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    corners = rng.integers(0, IMAGE_SIZE - PATTERN_SIZE + 1, size=(n, 2))
    masks = np.zeros((n, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for i, (row, col) in enumerate(corners):
        masks[i, 0, row : row + PATTERN_SIZE, col : col + PATTERN_SIZE] = PATTERNS[labels[i]]
    images[masks] = PATTERN_VALUE
    return images, labels, masks


def load() -> TaskData:
    """3000 training and 600 test samples from fixed seeds, with the test masks."""
    x_train, y_train, _ = generate(N_TRAIN, TRAIN_SEED)
    x_test, y_test, test_masks = generate(N_TEST, TEST_SEED)
    return TaskData(
        name="planted_patch",
        train={"pixels": x_train},
        y_train=y_train,
        test={"pixels": x_test},
        y_test=y_test,
        test_masks=test_masks,
        primary_input="pixels",
        n_classes=N_CLASSES,
    )
