"""Every method x the three tiny models: the shape, finite values, determinism under a
seed, the recorded parameters, and a clear refusal where a method cannot apply."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from harness.explainers.methods.base import AttributionRequest, Explainer, MethodNotApplicableError
from harness.explainers.methods.feature_masks import block_feature_mask
from harness.explainers.methods.registry import METHODS

# Small enough that the whole matrix runs in seconds.
FAST = {"n_steps": 4, "n_samples": 4, "nt_samples": 2}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # Tiny models run ~10x slower on two contended threads than on one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(hidden).flatten(1))


class TokenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(ids) * mask.unsqueeze(-1)
        return self.fc(embedded.sum(1) / mask.sum(1, keepdim=True))


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(5, 6)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


def make_request(modality: str, *, seed: int = 0, with_layer: bool = True) -> AttributionRequest:
    torch.manual_seed(1)
    target = torch.tensor([0, 2])
    if modality == "image":
        conv = ConvNet().eval()
        x = torch.randn(2, 1, 8, 8)
        return AttributionRequest(
            forward=conv,
            inputs=(x,),
            target=target,
            baseline=torch.zeros_like(x),
            modality="image",
            seed=seed,
            layer=conv.conv2 if with_layer else None,
            feature_mask=block_feature_mask(x.shape, 4),
        )
    if modality == "tokens":
        tokens = TokenNet().eval()
        ids = torch.randint(1, 20, (2, 6))
        mask = torch.ones(2, 6)
        mask[1, 4:] = 0
        return AttributionRequest(
            forward=tokens,
            inputs=(ids, mask),
            target=target,
            baseline=torch.zeros_like(ids),
            modality="tokens",
            seed=seed,
            layer=tokens.embedding if with_layer else None,
        )
    mlp = Mlp().eval()
    v = torch.randn(2, 5)
    return AttributionRequest(mlp, (v,), target, torch.zeros_like(v), "vector", seed=seed)


def fast(cls: type[Explainer]) -> Explainer:
    return cls(**{k: v for k, v in FAST.items() if k in cls.DEFAULTS})


CASES = [(name, modality) for name in METHODS for modality in ("image", "tokens", "vector")]
APPLICABLE = [(n, m) for n, m in CASES if m in METHODS[n].modalities]
NOT_APPLICABLE = [(n, m) for n, m in CASES if m not in METHODS[n].modalities]


def no_hooks_left(module: nn.Module) -> bool:
    return all(
        not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
        for m in module.modules()
    )


@pytest.mark.parametrize(("name", "modality"), APPLICABLE)
def test_shape_finite_deterministic_recorded(name: str, modality: str) -> None:
    cls = METHODS[name]
    request = make_request(modality)
    attributed = request.attributed
    first = fast(cls).attribute(request)
    second = fast(cls).attribute(make_request(modality))

    assert first.attributions.shape == attributed.shape  # (batch, seq) for token ids
    assert first.attributions.is_floating_point()
    assert torch.isfinite(first.attributions).all()
    assert torch.equal(first.attributions, second.attributions)
    assert first.seconds >= 0
    # Every parameter is recorded, as a JSON-ready scalar.
    assert set(cls.DEFAULTS) <= set(first.parameters)
    assert all(isinstance(v, str | int | float) for v in first.parameters.values())
    if cls.is_stochastic:
        assert first.parameters["seed"] == 0
    if cls.has_convergence_delta:
        assert first.convergence_delta is not None
        assert first.convergence_delta.shape == (attributed.shape[0],)
        assert torch.isfinite(first.convergence_delta).all()
    else:
        assert first.convergence_delta is None
    # The caller's tensor is untouched and Captum's hooks are gone.
    assert not attributed.requires_grad
    assert isinstance(request.forward, nn.Module)
    assert no_hooks_left(request.forward)


@pytest.mark.parametrize(("name", "modality"), NOT_APPLICABLE)
def test_inapplicable_declared_and_refused(name: str, modality: str) -> None:
    cls = METHODS[name]
    reason = cls.skip_reason(modality)
    assert reason is not None and name in reason and modality in reason
    if modality == "tokens":
        assert not cls.supports_tokens  # declared by the flag too
    with pytest.raises(MethodNotApplicableError, match=name) as caught:
        fast(cls).attribute(make_request(modality))
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", [n for n, cls in METHODS.items() if cls.needs_gradients])
def test_gradient_methods_on_tokens_need_the_embedding(name: str) -> None:
    cls = METHODS[name]
    if not cls.supports_tokens:
        assert "tokens" in (cls.skip_reason("tokens") or "")
        return
    assert "embedding" in (cls.skip_reason("tokens", has_layer=False) or "")
    with pytest.raises(MethodNotApplicableError, match="embedding layer"):
        fast(cls).attribute(make_request("tokens", with_layer=False))


def test_layer_gradcam_needs_a_layer() -> None:
    cls = METHODS["layer_gradcam"]
    assert cls.is_layer_method
    with pytest.raises(MethodNotApplicableError, match="last conv layer"):
        cls().attribute(make_request("image", with_layer=False))


@pytest.mark.parametrize("name", [n for n, cls in METHODS.items() if cls.needs_module])
def test_hooking_methods_refuse_a_plain_callable(name: str) -> None:
    request = make_request("vector")
    module = request.forward
    plain = AttributionRequest(
        lambda x: module(x), request.inputs, request.target, request.baseline, "vector"
    )
    with pytest.raises(MethodNotApplicableError, match=r"nn\.Module"):
        METHODS[name]().attribute(plain)


def test_perturbation_methods_take_a_plain_callable() -> None:
    request = make_request("tokens")
    model = request.forward
    plain = AttributionRequest(
        lambda ids, mask: model(ids, mask).detach(),  # e.g. an onnxruntime wrapper
        request.inputs,
        request.target,
        request.baseline,
        "tokens",
    )
    for name, cls in METHODS.items():
        if not cls.needs_gradients:
            out = fast(cls).attribute(plain)
            assert out.attributions.shape == (2, 6), name


@pytest.mark.parametrize("name", [n for n, cls in METHODS.items() if cls.is_stochastic])
def test_stochastic_methods_leave_the_global_generator_alone(name: str) -> None:
    request = make_request("vector")
    state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    fast(METHODS[name]).attribute(request)
    assert torch.equal(torch.random.get_rng_state(), state)
    after = np.random.rand(3)
    np.random.set_state(numpy_state)
    assert np.array_equal(after, np.random.rand(3))


@pytest.mark.parametrize("name", ["gradient_shap", "noise_tunnel", "lime"])
def test_the_seed_decides_the_draws(name: str) -> None:
    cls = METHODS[name]
    zero = fast(cls).attribute(make_request("image", seed=0)).attributions
    one = fast(cls).attribute(make_request("image", seed=1)).attributions
    assert not torch.equal(zero, one)


def test_wrong_input_kind_is_refused() -> None:
    request = make_request("vector")
    as_tokens = AttributionRequest(
        request.forward, request.inputs, request.target, request.baseline, "tokens"
    )
    with pytest.raises(MethodNotApplicableError, match="integer token ids"):
        METHODS["occlusion"]().attribute(as_tokens)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_stepz": 4}, "no parameter 'n_stepz'"),
        ({"n_steps": 2.5}, "expects int"),
        ({"n_steps": True}, "expects int"),
        ({"n_steps": 0}, "must be > 0"),
        ({"method": "simpson"}, "must be one of"),
    ],
)
def test_bad_parameters_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        METHODS["integrated_gradients"](**overrides)


def test_float_parameters_take_ints() -> None:
    assert METHODS["lime"](kernel_width=2).parameters["kernel_width"] == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("inputs", (), "empty"),
        ("modality", "audio", "modality"),
        ("internal_batch_size", 0, "internal_batch_size"),
        ("perturbations_per_eval", 0, "perturbations_per_eval"),
    ],
)
def test_bad_requests_are_refused(field: str, value: object, message: str) -> None:
    request = make_request("vector")
    fields = {
        "forward": request.forward,
        "inputs": request.inputs,
        "target": request.target,
        "baseline": request.baseline,
        "modality": "vector",
        field: value,
    }
    with pytest.raises(ValueError, match=message):
        AttributionRequest(**fields)  # type: ignore[arg-type]


def test_batching_parameters_are_used_and_recorded() -> None:
    request = make_request("image")
    batched = AttributionRequest(
        request.forward,
        request.inputs,
        request.target,
        request.baseline,
        "image",
        internal_batch_size=3,
        perturbations_per_eval=4,
        feature_mask=request.feature_mask,
    )
    ig = METHODS["integrated_gradients"](n_steps=4)
    plain_ig, batched_ig = ig.attribute(request), ig.attribute(batched)
    assert batched_ig.parameters["internal_batch_size"] == 3
    assert torch.allclose(plain_ig.attributions, batched_ig.attributions, atol=1e-6)
    ablation = METHODS["feature_ablation"]()
    plain_fa, batched_fa = ablation.attribute(request), ablation.attribute(batched)
    assert batched_fa.parameters["perturbations_per_eval"] == 4
    assert str(batched_fa.parameters["feature_mask"]).startswith("4 features")
    assert torch.allclose(plain_fa.attributions, batched_fa.attributions, atol=1e-6)


@pytest.mark.filterwarnings("error::UserWarning")
def test_internal_batch_never_below_the_samples() -> None:
    # Captum's IG warns and overrides an internal batch below the number of samples;
    # the explainers raise it to that floor and record what ran.
    request = make_request("image")
    small = AttributionRequest(
        request.forward, request.inputs, request.target, request.baseline, "image",
        internal_batch_size=1,
    )  # fmt: skip
    ig = METHODS["integrated_gradients"](n_steps=4).attribute(small).parameters
    assert ig["internal_batch_size"] == 2
    smooth = METHODS["noise_tunnel"](n_steps=4, nt_samples=3).attribute(small).parameters
    assert (smooth["nt_samples_batch_size"], smooth["internal_batch_size"]) == (1, 2)
