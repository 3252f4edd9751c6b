"""The trigger-token task: determinism, labels, ground-truth masks and padding."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models.tasks import load_task
from harness.models.tasks.trigger_tokens import (
    MAX_LENGTH,
    MIN_LENGTH,
    N_CLASSES,
    TEST_SEED,
    VOCAB_SIZE,
    generate,
    load,
)

A, B = 1, 2


def expected_label(ids: np.ndarray) -> int:
    """The rule, restated: 0 no trigger, 1 A alone, 2 A before B, 3 B before A."""
    tokens = list(ids)
    has_a, has_b = A in tokens, B in tokens
    if not has_a and not has_b:
        return 0
    if has_a and not has_b:
        return 1
    if has_a and has_b:
        return 2 if tokens.index(A) < tokens.index(B) else 3
    raise AssertionError(f"B without A is not a sample of this task: {tokens}")


@pytest.fixture(scope="module")
def sample():
    return generate(2000, seed=7)


def test_same_seed_same_samples_other_seed_other_samples():
    first, again, other = generate(50, seed=3), generate(50, seed=3), generate(50, seed=4)
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0], other[0])


def test_shapes_and_dtypes(sample):
    ids, mask, labels, truth = sample
    assert ids.shape == mask.shape == truth.shape == (2000, MAX_LENGTH)
    assert labels.shape == (2000,)
    assert (ids.dtype, mask.dtype, labels.dtype, truth.dtype) == (
        np.int64,
        np.int64,
        np.int64,
        np.bool_,
    )
    assert ids.min() >= 0
    assert ids.max() < VOCAB_SIZE


def test_truth_marks_exactly_the_trigger_tokens(sample):
    ids, _, labels, truth = sample
    assert set(np.unique(ids[truth])) <= {A, B}
    assert not np.isin(ids[~truth], [A, B]).any()
    # One position per trigger the label needs.
    np.testing.assert_array_equal(truth.sum(axis=1), np.array([0, 1, 2, 2])[labels])


def test_labels_follow_the_rules(sample):
    ids, _, labels, _ = sample
    assert [expected_label(row) for row in ids] == labels.tolist()


def test_padding_follows_the_length(sample):
    ids, mask, _, truth = sample
    lengths = mask.sum(axis=1)
    assert lengths.min() == MIN_LENGTH
    assert lengths.max() == MAX_LENGTH
    for row_ids, row_mask, row_truth, length in zip(ids, mask, truth, lengths, strict=True):
        assert (row_mask[:length] == 1).all()
        assert (row_mask[length:] == 0).all()
        assert (row_ids[length:] == 0).all()
        assert (row_ids[:length] != 0).all()
        assert not row_truth[length:].any()


def test_filler_covers_the_vocabulary_but_never_pad_or_triggers(sample):
    ids, mask, _, truth = sample
    filler = ids[(mask == 1) & ~truth]
    assert set(np.unique(filler)) == set(range(3, VOCAB_SIZE))


def test_both_orders_put_triggers_early_and_late(sample):
    ids, _, labels, _ = sample
    for label, first, second in ((2, A, B), (3, B, A)):
        rows = ids[labels == label]
        first_at = np.argmax(rows == first, axis=1)
        second_at = np.argmax(rows == second, axis=1)
        assert (first_at < second_at).all()
        assert first_at.min() == 0
        assert second_at.max() >= MAX_LENGTH - 2


def test_classes_are_balanced():
    _, _, labels, _ = generate(1001, seed=0)
    counts = np.bincount(labels, minlength=N_CLASSES)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == 1001


def test_load_gives_the_fixed_split():
    data = load()
    assert data.name == "trigger_tokens"
    assert data.primary_input == "input_ids"
    assert data.n_classes == N_CLASSES
    assert set(data.train) == set(data.test) == {"input_ids", "attention_mask"}
    assert len(data.y_train) == len(data.train["input_ids"]) == 4000
    assert len(data.y_test) == len(data.test["input_ids"]) == 800
    assert np.bincount(data.y_train).tolist() == [1000] * 4
    assert np.bincount(data.y_test).tolist() == [200] * 4
    ids, mask, labels, truth = generate(800, TEST_SEED)
    np.testing.assert_array_equal(data.test["input_ids"], ids)
    np.testing.assert_array_equal(data.test["attention_mask"], mask)
    np.testing.assert_array_equal(data.y_test, labels)
    assert data.test_masks is not None
    np.testing.assert_array_equal(data.test_masks, truth)
    # Train and test come from different seeds: no test sequence is a training sequence.
    train_rows = {row.tobytes() for row in data.train["input_ids"]}
    assert not any(row.tobytes() in train_rows for row in data.test["input_ids"])


def test_load_task_caches():
    assert load_task("trigger_tokens") is load_task("trigger_tokens")


@pytest.mark.parametrize(("low", "high"), [(1, 8), (9, 8)])
def test_impossible_lengths_are_rejected(low, high):
    with pytest.raises(ValueError, match="min_length"):
        generate(4, seed=0, min_length=low, max_length=high)
