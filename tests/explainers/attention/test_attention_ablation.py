"""Head ablation: zeroing a head changes the output, zeroing nothing does not, and the
importance bookkeeping flags redundant and dominant heads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest

from harness.explainers.attention.ablation import (
    DOMINANT_SHARE,
    MIN_REDUNDANCY_SAMPLES,
    head_importance,
)
from harness.explainers.attention.capture_onnx import OnnxAblator, OnnxCapturer, find_softmax_sites
from harness.explainers.attention.capture_torch import TorchAblator, TorchCapturer
from harness.models import get_reference
from harness.models.tasks import load_task
from harness.testing import attention_models as am

ZOO = get_reference("transformer")


def zoo_inputs() -> dict[str, np.ndarray]:
    return load_task("trigger_tokens").test_batch(4)


def keep_all(heads: Sequence[int]) -> list[np.ndarray]:
    return [np.ones(n) for n in heads]


def one_zeroed(heads: Sequence[int], layer: int, head: int) -> list[np.ndarray]:
    masks = keep_all(heads)
    masks[layer][head] = 0.0
    return masks


def test_onnx_ablation_changes_the_output_only_when_a_head_is_zeroed() -> None:
    model = onnx.load(str(ZOO.onnx_path))
    capture = OnnxCapturer(model).run(zoo_inputs())
    ablator = OnnxAblator(model, find_softmax_sites(model), [m.ndim for m in capture.maps])
    inputs = zoo_inputs()
    np.testing.assert_array_equal(ablator.output(inputs, keep_all([4, 4])), capture.output)
    for layer, head in [(0, 0), (1, 3)]:
        ablated = ablator.output(inputs, one_zeroed([4, 4], layer, head))
        assert np.abs(ablated - capture.output).max() > 1e-3


def test_torch_ablation_changes_the_output_only_when_a_head_is_zeroed() -> None:
    module = ZOO.build()
    capture = TorchCapturer(module).run(zoo_inputs())
    ablator = TorchAblator(module, capture.sites)
    inputs = zoo_inputs()
    np.testing.assert_array_equal(ablator.output(inputs, keep_all([4, 4])), capture.output)
    assert np.abs(ablator.output(inputs, one_zeroed([4, 4], 0, 2)) - capture.output).max() > 1e-3


def test_onnx_and_torch_ablation_agree_on_the_zoo_transformer() -> None:
    model, module, inputs = onnx.load(str(ZOO.onnx_path)), ZOO.build(), zoo_inputs()
    onnx_ablator = OnnxAblator(model, find_softmax_sites(model), [4, 4])
    torch_ablator = TorchAblator(module, TorchCapturer(module).run(inputs).sites)
    masks = one_zeroed([4, 4], 1, 1)
    np.testing.assert_allclose(
        onnx_ablator.output(inputs, masks), torch_ablator.output(inputs, masks), atol=1e-4
    )


def test_zeroing_every_head_of_a_3d_layout_leaves_only_the_bias(tmp_path: Path) -> None:
    """(batch*heads, q, k) maps take a (batch*heads, 1, 1) mask: with every head zeroed the
    context is 0, and the mean-pooled classifier returns its bias exactly."""
    module = am.FlatAttention()
    path = am.export(module, am.token_inputs(), tmp_path / "flat.onnx", dynamo=False)
    model = onnx.load(str(path))
    ablator = OnnxAblator(model, find_softmax_sites(model), ranks=[3])
    out = ablator.output(am.token_inputs(), [np.zeros(2)])
    bias = module.head.bias.detach().numpy()
    np.testing.assert_allclose(out, np.broadcast_to(bias, out.shape), atol=1e-6)
    one = ablator.output(am.token_inputs(), [np.array([0.0, 1.0])])
    assert not np.allclose(one, out)


def test_only_softmax_modules_can_be_ablated_in_torch() -> None:
    module = am.encoder_classifier()
    sites = TorchCapturer(module).run(am.token_inputs()).sites
    assert {s.kind for s in sites} == {"nn.MultiheadAttention"}
    assert not any(s.ablatable for s in sites)
    with pytest.raises(ValueError, match="softmax-module"):
        TorchAblator(module, sites)


# --- the importance bookkeeping, on a model with known head effects ---------------------------


EFFECTS = {(0, 0): 2.0, (0, 1): 0.0, (1, 0): 0.5, (1, 1): -0.5}  # drop when a head is zeroed


def fake_run(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Two samples, two classes; class 0 scores 10 minus the effect of every zeroed head."""
    score = 10.0 - sum(
        EFFECTS[(layer, h)] for layer, m in enumerate(masks) for h in range(len(m)) if not m[h]
    )
    return np.array([[score, 0.0], [score, 1.0]])


def test_head_importance_measures_each_drop_and_flags_heads() -> None:
    original = fake_run(keep_all([2, 2]))
    target = "predicted-class logit of output 'logits'"
    ablation = head_importance(fake_run, original, [2, 2], "fake", target=target)
    drops = {(h.layer, h.head): h.drop for h in ablation.heads}
    assert drops == pytest.approx(EFFECTS)
    flags = {(h.layer, h.head): h.flag for h in ablation.heads}
    # Total |drop| is 3; head (0, 0) holds 2/3 >= DOMINANT_SHARE; (0, 1) changes nothing.
    assert DOMINANT_SHARE <= 2 / 3
    assert flags == {(0, 0): "dominant", (0, 1): "redundant", (1, 0): None, (1, 1): None}
    assert ablation.unablated_max_abs_diff == 0.0
    assert ablation.baseline_score == 10.0 and ablation.samples == 2
    assert ablation.target == "predicted-class logit of output 'logits'"


def test_the_default_score_needs_a_classifier_output() -> None:
    def hidden(masks: Sequence[np.ndarray]) -> np.ndarray:
        return np.zeros((2, 3, 4))

    with pytest.raises(ValueError, match="not \\(batch, classes\\)"):
        head_importance(hidden, np.zeros((2, 3, 4)), [2, 2], "fake")


def test_unablated_difference_is_recorded() -> None:
    shifted = fake_run(keep_all([2, 2])) + 0.25
    assert head_importance(fake_run, shifted, [2, 2], "fake").unablated_max_abs_diff == 0.25


def test_the_given_score_is_the_target_and_compares_with_the_unablated_output() -> None:
    """A score of class 1 against the unablated output: zeroing head (0, 0) moves only
    class 0, so it changes nothing there, and (0, 1) drops class 1 by its effect."""

    def run(masks: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([[10.0 - 3.0 * (not masks[0][0]), 5.0 - 1.5 * (not masks[0][1])]] * 3)

    seen: list[np.ndarray] = []

    def score(output: np.ndarray, unablated: np.ndarray) -> np.ndarray:
        seen.append(unablated)
        return output[:, 1]

    ablation = head_importance(run, run([np.ones(2)]), [2], "fake", score, "class 1", "class")
    assert [h.drop for h in ablation.heads] == [0.0, 1.5]
    assert all(np.array_equal(u, run([np.ones(2)])) for u in seen)
    assert (ablation.target, ablation.target_kind, ablation.baseline_score) == (
        "class 1", "class", 5.0
    )  # fmt: skip
    assert [h.flag for h in ablation.heads] == ["redundant", "dominant"]


def test_redundancy_is_never_claimed_from_one_sample() -> None:
    def one(masks: Sequence[np.ndarray]) -> np.ndarray:
        return fake_run(masks)[:1]

    assert MIN_REDUNDANCY_SAMPLES == 2
    ablation = head_importance(one, one(keep_all([2, 2])), [2, 2], "fake")
    flags = {(h.layer, h.head): h.flag for h in ablation.heads}
    assert ablation.samples == 1 and flags[(0, 1)] is None  # its drop is 0 all the same
    assert flags[(0, 0)] == "dominant"
