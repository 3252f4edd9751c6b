"""The trigger-token task: random token sequences labelled by where two trigger tokens sit.

Token ids (vocabulary of ``VOCAB_SIZE`` = 64)::

    0         PAD        right padding after the sequence's length; attention_mask 0 there
    1         TRIGGER_A  the first trigger
    2         TRIGGER_B  the second trigger
    3 .. 63   filler     drawn uniformly; never a trigger, never PAD

Every sequence has a length drawn uniformly from [``MIN_LENGTH``, ``MAX_LENGTH``] =
[12, 32] and is right-padded to ``MAX_LENGTH``. Triggers sit at distinct random positions
among the real tokens, each at most once. The label is decided by the triggers alone:

    class 0   no trigger
    class 1   A alone (no B)
    class 2   A before B
    class 3   B before A

So the ground-truth relevance of a sample is exactly its trigger positions (none for class
0): a faithful attribution puts its mass there. Classes 2 and 3 hold the same tokens in
another order, so a model must use positions, not only token counts.
"""

from __future__ import annotations

import numpy as np

from harness.models.tasks import TaskData

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "N_CLASSES",
    "PAD",
    "TRIGGER_A",
    "TRIGGER_B",
    "VOCAB_SIZE",
    "generate",
    "load",
]

VOCAB_SIZE = 64
PAD = 0
TRIGGER_A = 1
TRIGGER_B = 2
FIRST_FILLER = 3
MIN_LENGTH = 12
MAX_LENGTH = 32
N_CLASSES = 4

N_TRAIN = 4000
N_TEST = 800
TRAIN_SEED = 0
TEST_SEED = 1


def generate(
    n: int, seed: int, min_length: int = MIN_LENGTH, max_length: int = MAX_LENGTH
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples, the same for the same arguments.

    Returns ``(input_ids, attention_mask, labels, truth)``: ids and mask int64 (n,
    max_length), labels int64 (n,) balanced over the classes (counts differ by at most
    one), truth bool (n, max_length), True exactly at the trigger positions.
    """
    if not 2 <= min_length <= max_length:
        raise ValueError(
            f"lengths must satisfy 2 <= min_length <= max_length, got {min_length}, "
            f"{max_length}; two triggers need two positions"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % N_CLASSES)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    real = np.arange(max_length)[None, :] < lengths[:, None]
    filler = rng.integers(FIRST_FILLER, VOCAB_SIZE, size=(n, max_length), dtype=np.int64)
    ids = np.where(real, filler, PAD).astype(np.int64)

    # Two distinct positions among the real tokens, each uniform: draw the second from one
    # fewer slot and step over the first.
    first = (rng.random(n) * lengths).astype(np.int64)
    second = (rng.random(n) * (lengths - 1)).astype(np.int64)
    second += second >= first
    early, late = np.minimum(first, second), np.maximum(first, second)

    rows = np.arange(n)
    alone, a_first, b_first = labels == 1, labels == 2, labels == 3
    ids[rows[alone], first[alone]] = TRIGGER_A
    ids[rows[a_first], early[a_first]] = TRIGGER_A
    ids[rows[a_first], late[a_first]] = TRIGGER_B
    ids[rows[b_first], early[b_first]] = TRIGGER_B
    ids[rows[b_first], late[b_first]] = TRIGGER_A
    truth = (ids == TRIGGER_A) | (ids == TRIGGER_B)
    return ids, real.astype(np.int64), labels, truth


def load() -> TaskData:
    """The fixed split: 4000 training and 800 test sequences from separate seeds."""
    train_ids, train_mask, y_train, _ = generate(N_TRAIN, TRAIN_SEED)
    test_ids, test_mask, y_test, test_truth = generate(N_TEST, TEST_SEED)
    return TaskData(
        name="trigger_tokens",
        train={"input_ids": train_ids, "attention_mask": train_mask},
        y_train=y_train,
        test={"input_ids": test_ids, "attention_mask": test_mask},
        y_test=y_test,
        test_masks=test_truth,
        primary_input="input_ids",
        n_classes=N_CLASSES,
    )
