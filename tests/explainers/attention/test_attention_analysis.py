"""Attention analysis, verification and display limits on hand-built maps with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core.attention import DISPLAY_MAX_VALUES, DISPLAY_TOKENS
from harness.explainers.attention import analysis, verify
from harness.explainers.attention.display import display_maps, shown_tokens, token_labels
from harness.explainers.attention.sites import split_heads


def maps_of(*heads: list[list[float]]) -> np.ndarray:
    """(1, heads, q, k) from per-head row lists."""
    return np.asarray([heads], dtype=np.float64)


def everything_real(n: int) -> np.ndarray:
    return np.ones((1, n), dtype=bool)


# --- AUROC ----------------------------------------------------------------------------------


def test_auroc_of_a_hand_example() -> None:
    # Pairs (positive, negative): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, *) yes twice: 3/4.
    assert analysis.auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75


def test_auroc_counts_ties_half_and_needs_both_classes() -> None:
    assert analysis.auroc(np.array([1.0, 1.0, 0.0]), np.array([1, 0, 0])) == 0.75
    assert analysis.auroc(np.array([0.2, 0.9]), np.array([1, 0])) == 0.0
    assert analysis.auroc(np.array([0.2, 0.9]), np.array([1, 1])) is None


def test_mean_auroc_skips_padding_and_samples_without_positives() -> None:
    scores = np.array([[0.9, 0.1, 0.2, 5.0], [0.3, 0.2, 0.1, 0.0]])
    truth = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    real = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)  # the 5.0 is padding
    assert analysis.mean_auroc(scores, truth, real) == (1.0, 1)


# --- per-head statistics ---------------------------------------------------------------------


def test_uniform_and_one_hot_heads() -> None:
    uniform = [[0.25] * 4] * 4
    first = [[1.0, 0.0, 0.0, 0.0]] * 4
    stats = analysis.head_arrays(maps_of(uniform, first), everything_real(4), everything_real(4))
    np.testing.assert_allclose(stats.entropy, [1.0, 0.0])
    np.testing.assert_allclose(stats.first_token, [0.25, 1.0])
    # Uniform: mean over q of mean |q - k| = (1.5 + 1 + 1 + 1.5) / 4; first: (0+1+2+3)/4.
    np.testing.assert_allclose(stats.mean_distance, [1.25, 1.5])
    assert stats.self_share is not None
    np.testing.assert_allclose(stats.self_share, [0.25, 0.25])


def test_entropy_is_normalised_by_the_unmasked_keys_and_padded_queries_do_not_count() -> None:
    # Two real tokens of three: uniform over the real keys is entropy 1; the padded query
    # row (one-hot, entropy 0) is left out of the average.
    maps = maps_of([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    real = np.array([[True, True, False]])
    stats = analysis.head_arrays(maps, real, real)
    np.testing.assert_allclose(stats.entropy, [1.0])
    np.testing.assert_allclose(stats.self_share, [0.5])


def test_identity_attention_is_all_self() -> None:
    stats = analysis.head_arrays(
        maps_of(np.eye(3).tolist()), everything_real(3), everything_real(3)
    )
    np.testing.assert_allclose(stats.self_share, [1.0])
    np.testing.assert_allclose(stats.mean_distance, [0.0])
    np.testing.assert_allclose(stats.entropy, [0.0])


def test_self_share_is_none_for_cross_attention() -> None:
    maps = maps_of([[0.5, 0.5, 0.0]])  # one query, three keys
    stats = analysis.head_arrays(maps, everything_real(3), everything_real(1))
    assert stats.self_share is None


def test_received_averages_over_real_queries() -> None:
    maps = maps_of([[1.0, 0.0], [0.0, 1.0]])
    query_real = np.array([[True, False]])
    np.testing.assert_allclose(analysis.received(maps, query_real), [[[1.0, 0.0]]])


# --- rollout --------------------------------------------------------------------------------


def test_rollout_of_a_hand_example() -> None:
    # Uniform A over two tokens: Â = 0.5 A + 0.5 I = [[.75, .25], [.25, .75]]; two layers
    # multiply to [[.625, .375], [.375, .625]].
    uniform = maps_of([[0.5, 0.5], [0.5, 0.5]])
    first, second = analysis.rollout([uniform, uniform])
    np.testing.assert_allclose(first[0], [[0.75, 0.25], [0.25, 0.75]])
    np.testing.assert_allclose(second[0], [[0.625, 0.375], [0.375, 0.625]])


def test_rollout_averages_heads_and_multiplies_later_layers_on_the_left() -> None:
    to_first = maps_of([[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]])  # heads cancel
    to_second = maps_of([[0.0, 1.0], [0.0, 1.0]])
    (mixed,) = analysis.rollout([to_first])
    np.testing.assert_allclose(mixed[0], [[0.75, 0.25], [0.25, 0.75]])
    _, product = analysis.rollout([to_first, to_second])
    step = np.array([[0.5, 0.5], [0.0, 1.0]])  # 0.5 A + 0.5 I for to_second
    np.testing.assert_allclose(product[0], step @ mixed[0])


def test_rollout_tokens_reads_the_mean_over_real_queries() -> None:
    product = np.array([[[0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.3, 0.3, 0.4]]])
    real = np.array([[True, True, False]])
    np.testing.assert_allclose(analysis.rollout_tokens(product, real), [[0.4, 0.6, 0.0]])


# --- verification ----------------------------------------------------------------------------


def test_row_sums_and_non_finite_rows() -> None:
    good = maps_of([[0.2, 0.8], [0.5, 0.5]])
    assert verify.max_row_sum_error(good) < 1e-12
    assert verify.max_row_sum_error(maps_of([[0.2, 0.7], [0.5, 0.5]])) == pytest.approx(0.1)
    assert verify.max_row_sum_error(maps_of([[math.nan, 0.5], [0.5, 0.5]])) > 1


def test_padding_weight_flags_a_model_whose_padding_gets_attention() -> None:
    real = np.array([[True, True, False]])
    masked = maps_of([[0.5, 0.5, 0.0], [0.1, 0.9, 0.0], [0.0, 0.0, 1.0]])  # pad query ignored
    leaky = maps_of([[0.4, 0.3, 0.3], [0.1, 0.9, 0.0], [0.0, 0.0, 1.0]])
    assert verify.max_padding_weight(masked, real, real) == 0.0
    assert verify.max_padding_weight(leaky, real, real) == pytest.approx(0.3)
    assert verify.max_padding_weight(leaky, everything_real(3), None) is None
    flagged = verify.verify_layer(leaky, leaky, real, real, None)
    assert flagged.padding_attended and flagged.rows_sum_to_one and flagged.shape_ok
    assert not verify.verify_layer(masked, masked, real, real, None).padding_attended


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_recompute_finds_the_scale_and_applies_the_padding_mask() -> None:
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(1, 2, 3, 4)), rng.normal(size=(1, 2, 3, 4))
    kt = np.swapaxes(k, -1, -2)
    real = np.array([[True, True, False]])
    scores = q @ kt / 2.0 + np.where(real, 0.0, -1e9)[:, None, None, :]
    maps = _softmax(scores)
    assert verify.recompute(q, kt, maps, real)[:2] == ("match", "1/sqrt(d_k)")
    assert verify.recompute(q / 2.0, kt, maps, real)[:2] == ("match", "1 (pre-scaled)")
    verdict, scale, diff = verify.recompute(q, kt, maps, None)  # padding not masked
    assert (verdict, scale) == ("mismatch", None) and diff is not None and diff > 1e-3
    assert verify.recompute(q[..., :2, :], kt, maps, real)[0] == "not checked"


def test_recompute_on_the_first_batch_of_a_3d_layout() -> None:
    rng = np.random.default_rng(1)
    q, kt = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 2, 3))  # batch 2 x 2 heads
    raw = np.concatenate([_softmax(q @ kt / math.sqrt(2)), _softmax(rng.normal(size=(4, 3, 3)))])
    key_real = np.ones((4, 3), dtype=bool)  # four samples captured, Q and K of two
    result = verify.verify_layer(raw, split_heads(raw, 4), key_real, key_real, (q, kt))
    assert result.recompute == "match" and result.shape_ok


def test_split_heads() -> None:
    flat = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(6, 4, 4)
    split = split_heads(flat, 2)
    assert split is not None and split.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(split[1, 0], flat[3])  # batch-major
    assert split_heads(flat, 4) is None
    assert split_heads(np.zeros((2, 3, 4, 4)), 3) is None


# --- display limits --------------------------------------------------------------------------


def test_a_long_sequence_is_cut_to_the_display_limit() -> None:
    length = 100
    layer = np.full((2, length, length), 1.0 / length)
    labels = token_labels(np.arange(length) % 7, length)
    shown = display_maps(0, [layer, None], length, labels, None, np.full(length, 0.01))
    assert shown.truncated and shown.total_tokens == length
    assert len(shown.tokens) == DISPLAY_TOKENS == len(shown.maps[0][0]) == len(shown.maps[0][0][0])
    assert (
        shown.maps[1] == () and shown.rollout is not None and len(shown.rollout) == DISPLAY_TOKENS
    )
    assert len(set(labels)) == length  # position:id stays unique when ids repeat


def test_a_short_sequence_is_whole_and_rounded() -> None:
    layer = np.array([[[1 / 3, 2 / 3], [0.5, 0.5]]])
    shown = display_maps(1, [layer], 2, ("0:5", "1:6"), np.array([True, False]), None)
    assert not shown.truncated and shown.maps[0][0][0] == (0.333333, 0.666667)
    assert shown.truth == (True, False) and shown.rollout is None


def test_many_heads_show_fewer_tokens() -> None:
    assert shown_tokens(100, 8) == DISPLAY_TOKENS
    many = shown_tokens(100, 144)  # BERT-base: 12 layers x 12 heads
    assert many < DISPLAY_TOKENS and 144 * many**2 <= DISPLAY_MAX_VALUES
    assert shown_tokens(5, 1000) == 5
    assert shown_tokens(100, 10 * DISPLAY_MAX_VALUES) == 1  # never nothing
