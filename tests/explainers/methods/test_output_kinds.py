"""The first output's kind, read from its shape, values, name and producing op; the target
each kind gets; and each target's score, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.errors import UsageError
from harness.explainers.methods.output_kinds import (
    Layout,
    TargetChoice,
    choose_target,
    recognise_output,
)
from harness.explainers.methods.targets import KindScore, kind_scores, reference_of

RNG = np.random.default_rng(0)
IMAGE = RNG.standard_normal((2, 3, 16, 16)).astype(np.float32)
TOKENS = RNG.integers(0, 50, size=(2, 12))


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    return np.exp(log_softmax(x, axis))


def detections(batch: int = 2, rows: int = 5) -> np.ndarray:
    boxes = RNG.uniform(0, 16, size=(batch, rows, 4))
    score = RNG.uniform(0, 1, size=(batch, rows, 1))
    label = RNG.integers(0, 3, size=(batch, rows, 1)).astype(float)
    return np.concatenate([boxes, score, label], axis=2).astype(np.float32)


@pytest.mark.parametrize(
    ("output", "attributed", "name", "made", "kind"),
    [
        (RNG.standard_normal((2, 10)), IMAGE, "logits", "Gemm", "classes"),
        (RNG.standard_normal((2, 1)), IMAGE, "value", "Gemm", "scalar"),
        (RNG.standard_normal((2, 3, 16, 16)), IMAGE, "decoded", "Conv", "reconstruction"),
        (softmax(RNG.standard_normal((2, 3, 16, 16)), 1), IMAGE, "probs", "Softmax", "dense map"),
        (RNG.standard_normal((2, 4, 16, 16)), IMAGE, "out", "Conv", "dense map"),
        (RNG.standard_normal((2, 16, 16)), IMAGE, "mask", "Conv", "dense map"),
        (RNG.standard_normal((2, 16, 16, 5)), IMAGE, "out", "Conv", "dense map"),
        (RNG.standard_normal((2, 12, 9)), TOKENS, "logits", "MatMul", "dense map"),
        (RNG.standard_normal((2, 12, 9)), TOKENS, "last_hidden_state", "Add", "embedding"),
        (log_softmax(RNG.standard_normal((7, 2, 6))), IMAGE, "out", None, "sequence"),
        (log_softmax(RNG.standard_normal((2, 7, 6))), IMAGE, "out", None, "sequence"),
        (RNG.standard_normal((2, 7, 6)), IMAGE, "logits", None, "sequence"),
        (RNG.standard_normal((2, 7, 6)), IMAGE, "out", "Relu", "classes"),
        (detections(), IMAGE, "out", "Concat", "detections"),
        (RNG.standard_normal((2, 32)), TOKENS, "out", "ReduceMean", "embedding"),
        (RNG.standard_normal((2, 32)), TOKENS, "sentence_embedding", None, "embedding"),
        (RNG.standard_normal((2, 32)), TOKENS, "pooled_logits", None, "classes"),
        (softmax(RNG.standard_normal((2, 32)), 1), TOKENS, "embedding", "Softmax", "classes"),
    ],
)
def test_each_kind_is_recognised(
    output: np.ndarray, attributed: np.ndarray, name: str, made: str | None, kind: str
) -> None:
    recognition = recognise_output(output.astype(np.float32), 2, attributed, name, made)
    assert recognition.kind == kind, recognition.why


def test_unit_norm_rows_are_an_embedding_and_get_the_cosine() -> None:
    rows = RNG.standard_normal((3, 16))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    recognition = recognise_output(rows, 3, TOKENS[:1].repeat(3, 0), "output_0", "Div")
    assert recognition.kind == "embedding" and "unit-norm" in recognition.why
    choice = choose_target(recognition, None, rows, "output_0")
    assert choice.kind == "cosine" and "its norm is 1 on every sample" in choice.description
    unscaled = choose_target(recognition, None, rows * 3, "output_0")
    assert unscaled.kind == "norm"


def test_a_time_major_output_is_laid_out_batch_first() -> None:
    output = log_softmax(RNG.standard_normal((7, 2, 6)))
    recognition = recognise_output(output, 2, IMAGE, "log_probs", "LogSoftmax")
    layout = recognition.layout
    assert (layout.batch_axis, layout.sample_shape, layout.scores) == (
        1, (7, 6), "log-probabilities"
    )  # fmt: skip
    np.testing.assert_array_equal(layout.batch_first(output)[1], output[:, 1])
    flat = torch.from_numpy(output).reshape(7, -1)  # how the explained forwards hand it over
    np.testing.assert_array_equal(layout.batch_first(flat).numpy(), layout.batch_first(output))


def test_defaults_by_kind_and_the_forms_an_output_cannot_take() -> None:
    cases = {
        "classes": (RNG.standard_normal((2, 10)), "logits", "predicted"),
        "dense map": (RNG.standard_normal((2, 4, 16, 16)), "out", "region"),
        "detections": (detections(), "out", "detection"),
        "sequence": (log_softmax(RNG.standard_normal((7, 2, 6))), "out", "sequence"),
    }
    for kind, (output, name, default) in cases.items():
        recognition = recognise_output(output, 2, IMAGE, name, None)
        samples = recognition.layout.batch_first(output)
        assert recognition.kind == kind
        assert choose_target(recognition, None, samples, name).kind == default
        assert choose_target(recognition, "norm", samples, name).kind == "norm"
    classes = recognise_output(RNG.standard_normal((2, 10)), 2, IMAGE, "logits", "Gemm")
    with pytest.raises(UsageError, match="--target region needs a dense map"):
        choose_target(classes, "region", np.zeros((2, 10)), "logits")
    with pytest.raises(UsageError, match="--target sequence needs a sequence"):
        choose_target(classes, "sequence", np.zeros((2, 10)), "logits")
    sequence = recognise_output(log_softmax(RNG.standard_normal((7, 2, 6))), 2, IMAGE, "o")
    with pytest.raises(UsageError, match="--target 3 indexes a \\(batch, classes\\) output"):
        choose_target(sequence, 3, np.zeros((2, 7, 6)), "o")
    assert choose_target(classes, 3, np.zeros((2, 10)), "logits").index == 3


# --- the scores -------------------------------------------------------------------------------


def score(output: np.ndarray, form: str, layout: Layout, unperturbed: np.ndarray) -> np.ndarray:
    """``form``'s score of ``output`` (batch first), compared with ``unperturbed``."""
    choice = TargetChoice(form, "classes", layout, form)  # type: ignore[arg-type]
    reference = reference_of(choice, torch.from_numpy(unperturbed))
    return kind_scores(choice, torch.from_numpy(output), reference).numpy()


def test_norm_and_cosine_by_hand() -> None:
    rows = np.array([[3.0, 4.0], [1.0, 0.0]])
    layout = Layout(0, (2,))
    np.testing.assert_allclose(score(rows, "norm", layout, rows), [5.0, 1.0])
    turned = np.array([[4.0, 3.0], [0.0, 2.0]])
    np.testing.assert_allclose(score(turned, "cosine", layout, rows), [24 / 25, 0.0])


def test_the_region_is_the_largest_predicted_class_other_than_background() -> None:
    """Class 0 covers 10 of 16 pixels, class 2 covers 4, class 1 covers 2: the region is
    class 2's 4 pixels, and the score sums class 2's values there."""
    maps = np.zeros((1, 3, 4, 4))
    maps[0, 0] = 1.0
    maps[0, 2, :2, :2] = 2.0  # 4 pixels predicted class 2
    maps[0, 1, 3, :2] = 3.0  # 2 pixels predicted class 1
    layout = Layout(0, (3, 4, 4), class_axis=0)
    np.testing.assert_allclose(score(maps, "region", layout, maps), [8.0])
    moved = maps.copy()
    moved[0, 2] += 0.5  # everywhere; only the region's 4 pixels count
    np.testing.assert_allclose(score(moved, "region", layout, maps), [10.0])


def test_a_single_probability_map_sums_where_it_exceeds_a_half() -> None:
    probs = np.array([[[0.9, 0.2], [0.7, 0.1]]])
    layout = Layout(0, (2, 2), class_axis=None)
    np.testing.assert_allclose(score(probs, "region", layout, probs), [1.6])


def test_the_sequence_scores_the_unperturbed_greedy_path() -> None:
    logp = log_softmax(RNG.standard_normal((1, 5, 4)))
    layout = Layout(0, (5, 4), scores="log-probabilities")
    path = logp[0].argmax(-1)
    np.testing.assert_allclose(score(logp, "sequence", layout, logp), [logp[0].max(-1).sum()])
    other = log_softmax(RNG.standard_normal((1, 5, 4)))
    expected = other[0, np.arange(5), path].sum()
    np.testing.assert_allclose(score(other, "sequence", layout, logp), [expected], rtol=1e-6)


def test_the_detection_score_is_the_top_row_score() -> None:
    rows = detections(batch=2, rows=5).astype(np.float64)
    layout = Layout(0, (5, 6))
    np.testing.assert_allclose(score(rows, "detection", layout, rows), rows[..., 4].max(1))


def test_kind_score_takes_the_reference_as_its_last_argument() -> None:
    """The time-major forward flattened as the explained forwards flatten it: the wrapper
    restores (batch, time, classes) and scores against the path in its last argument."""
    weight = torch.randn(3, 6)

    def forward(x: torch.Tensor) -> torch.Tensor:  # (batch, time, 3) -> (time, batch * 6)
        out = torch.log_softmax(x @ weight, dim=-1).transpose(0, 1)
        return out.reshape(out.shape[0], -1)

    x = torch.randn(2, 7, 3)
    raw = torch.log_softmax(x @ weight, dim=-1).transpose(0, 1).numpy()
    recognition = recognise_output(raw, 2, x.numpy(), "log_probs", "LogSoftmax")
    samples = recognition.layout.batch_first(raw)
    choice = choose_target(recognition, None, samples, "log_probs")
    reference = reference_of(choice, torch.from_numpy(samples))
    wrapped = KindScore(forward, choice)
    out = wrapped(x, reference)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out[:, 0].numpy(), samples.max(-1).sum(-1), rtol=1e-5)
