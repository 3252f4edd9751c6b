"""Baselines, targets, feature masks and batching, against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.core.errors import UsageError
from harness.explainers.methods.base import AttributionRequest
from harness.explainers.methods.baselines import (
    default_blur_sigma,
    gaussian_blur,
    make_baseline,
)
from harness.explainers.methods.batching import (
    ACTIVATION_FACTOR,
    FORWARD_DISCOUNT,
    MAX_INTERNAL_BATCH,
    choose_batch,
    with_oom_halving,
)
from harness.explainers.methods.feature_masks import (
    block_feature_mask,
    default_block_size,
    default_feature_mask,
)
from harness.explainers.methods.registry import METHODS
from harness.explainers.methods.targets import (
    ReconstructionError,
    fixed_class,
    predicted_class,
    reconstruction_error,
    scalar_output,
)

# --- baselines -------------------------------------------------------------------------


def test_image_baselines() -> None:
    images = torch.rand(2, 3, 16, 16)
    zeros = make_baseline("image", images)
    assert torch.equal(zeros.tensor, torch.zeros_like(images)) and "zeros" in zeros.description
    blurred = make_baseline("image", images, "blur")
    assert blurred.tensor.shape == images.shape
    assert "sigma 2 px" in blurred.description  # 16 / 8
    assert blurred.tensor.std() < images.std()  # smoother
    assert "sigma 0.5 px" in make_baseline("image", images, "blur", sigma=0.5).description


def test_blur_keeps_a_constant_image_and_the_mean_of_a_smooth_one() -> None:
    flat = torch.full((1, 2, 5, 7), 0.25, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(flat, 3.0), flat)
    impulse = torch.zeros(1, 1, 21, 21)
    impulse[0, 0, 10, 10] = 1.0
    spread = gaussian_blur(impulse, 1.5)
    torch.testing.assert_close(spread.sum(), torch.tensor(1.0))  # far from the border
    assert spread[0, 0, 10, 10] == spread.max()
    assert default_blur_sigma(224, 300) == 28


def test_token_and_vector_baselines() -> None:
    ids = torch.tensor([[5, 6, 7]])
    pad = make_baseline("tokens", ids, pad_token_id=1)
    assert torch.equal(pad.tensor, torch.ones_like(ids)) and "pad token id 1" in pad.description
    assert torch.equal(make_baseline("tokens", ids).tensor, torch.zeros_like(ids))
    v = torch.rand(4, 3)
    mean = torch.tensor([0.1, 0.2, 0.3])
    chosen = make_baseline("vector", v, feature_mean=mean)
    assert torch.equal(chosen.tensor, mean.expand(4, 3)) and "feature mean" in chosen.description
    assert torch.equal(make_baseline("vector", v).tensor, torch.zeros_like(v))


@pytest.mark.parametrize(
    ("modality", "kwargs", "message"),
    [
        ("image", {"kind": "mean"}, "does not apply to image"),
        ("tokens", {"kind": "pad"}, "needs pad_token_id"),
        ("vector", {"kind": "mean"}, "needs the feature mean"),
        ("vector", {"feature_mean": torch.zeros(4)}, "does not broadcast"),
        ("audio", {}, "modality 'audio'"),
    ],
)
def test_bad_baselines_are_refused(modality: str, kwargs: dict, message: str) -> None:
    inputs = torch.zeros(2, 3, dtype=torch.int64 if modality == "tokens" else torch.float32)
    with pytest.raises(ValueError, match=message):
        make_baseline(modality, inputs, **kwargs)


# --- feature masks ---------------------------------------------------------------------


def test_block_feature_mask() -> None:
    mask = block_feature_mask((2, 3, 4, 6), 2)
    assert mask.shape == (1, 1, 4, 6)
    assert mask[0, 0].tolist() == [
        [0, 0, 1, 1, 2, 2],
        [0, 0, 1, 1, 2, 2],
        [3, 3, 4, 4, 5, 5],
        [3, 3, 4, 4, 5, 5],
    ]
    ragged = block_feature_mask((1, 1, 5, 5), 4)
    assert ragged.unique().tolist() == [0, 1, 2, 3]
    assert default_block_size(224, 224) == 28
    image_mask = default_feature_mask("image", torch.zeros(1, 3, 16, 16))
    assert image_mask is not None and image_mask.unique().numel() == 64
    assert default_feature_mask("tokens", torch.zeros(1, 5)) is None
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        block_feature_mask((2, 5), 2)


# --- batching --------------------------------------------------------------------------


def test_choose_batch_follows_the_formula() -> None:
    params, per_sample = 1_000, 100
    budget = 2 * params + 10 * ACTIVATION_FACTOR * per_sample
    plan = choose_batch(params, per_sample, budget)
    assert plan == (10, 10 * FORWARD_DISCOUNT)
    assert choose_batch(params, per_sample, budget, samples_per_call=4).perturbations_per_eval == 10
    assert choose_batch(params, per_sample, 0) == (1, 1)  # never below 1
    assert choose_batch(0, 1, 10**15).internal_batch_size == MAX_INTERNAL_BATCH
    with pytest.raises(ValueError, match="input_bytes_per_sample"):
        choose_batch(params, 0, budget)


def test_with_oom_halving_retries_with_half_and_records_it() -> None:
    tried: list[int] = []

    def fn(batch: int) -> str:
        tried.append(batch)
        if batch > 10:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        if batch > 5:
            raise RuntimeError("[ONNXRuntimeError] : 6 : Failed to allocate memory for tensor")
        return f"ran at {batch}"

    result = with_oom_halving(fn, 40)
    assert tried == [40, 20, 10, 5]
    assert result == ("ran at 5", 5, 3)
    assert result.batch == 5 and result.halvings == 3


def test_with_oom_halving_gives_up_at_one_and_on_other_errors() -> None:
    def always_oom(batch: int) -> None:
        raise torch.OutOfMemoryError("out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        with_oom_halving(always_oom, 4)
    calls: list[int] = []

    def broken(batch: int) -> None:
        calls.append(batch)
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        with_oom_halving(broken, 8)
    assert calls == [8]


# --- targets ---------------------------------------------------------------------------


def test_predicted_and_fixed_class() -> None:
    model = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    x = torch.tensor([[2.0, 1.0], [0.0, 3.0], [-2.0, -2.0]])
    predicted = predicted_class(model, (x,))
    assert torch.equal(predicted.target, torch.tensor([0, 1, 2]))  # type: ignore[arg-type]
    assert "predicted" in predicted.description
    assert fixed_class(model, (x,), 2).target == 2
    with pytest.raises(UsageError, match=r"--target 3 is out of range: the model has 3 outputs"):
        fixed_class(model, (x,), 3)
    with pytest.raises(ValueError, match="one output per sample"):
        scalar_output(model, (x,))
    assert scalar_output(nn.Linear(2, 1), (x,)).target == 0


def test_reconstruction_error_is_a_module_deeplift_can_hook() -> None:
    torch.manual_seed(0)
    autoencoder = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 4)).eval()
    x = torch.rand(3, 4)
    chosen = reconstruction_error(autoencoder)
    assert isinstance(chosen.forward, ReconstructionError) and chosen.target == 0
    with torch.no_grad():
        expected = ((autoencoder(x) - x) ** 2).mean(1, keepdim=True)
        torch.testing.assert_close(chosen.forward(x), expected)
    request = AttributionRequest(chosen.forward, (x,), 0, torch.zeros_like(x), "vector")
    out = METHODS["deeplift"]().attribute(request)
    assert out.attributions.shape == x.shape
    assert torch.isfinite(out.attributions).all()
