"""Attention capture on ONNX graphs and PyTorch modules nobody here wrote for it.

Every model: attention found in every layer with the right head count, rows summing to 1,
and the model's output unchanged by capturing. Models without attention, or with fused
attention, capture nothing and say why. Hooks never outlive a capture, even one that fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from harness.explainers.attention.capture_onnx import (
    OnnxCapturer,
    capture_model,
    find_softmax_sites,
)
from harness.explainers.attention.capture_torch import TorchAblator, TorchCapturer
from harness.explainers.attention.sites import Capture, first_dim, split_heads
from harness.explainers.attention.verify import max_row_sum_error, verify_layer
from harness.models import get_reference
from harness.models.tasks import load_task
from harness.testing import attention_models as am

ZOO = get_reference("transformer")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attention-models")


@pytest.fixture(scope="module")
def captured(folder: Path) -> Callable[[str], Any]:
    """Each case built, exported and captured once per module."""
    done: dict[str, Any] = {}

    def get(case: str) -> Any:
        if case not in done:
            done[case] = CASES[case](folder)
        return done[case]

    return get


def zoo_inputs() -> dict[str, np.ndarray]:
    return load_task("trigger_tokens").test_batch(4)


def onnx_run(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, inputs)[0])


def torch_run(module: nn.Module, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        out = module(**{name: torch.from_numpy(a) for name, a in inputs.items()})
    return out.numpy()


# Each case: folder -> (capture, the model's own output, inputs, layers, heads per layer).
Case = Callable[[Path], tuple[Capture, np.ndarray, dict[str, np.ndarray], int, int]]


def _onnx_case(path: Path, inputs: dict[str, np.ndarray], layers: int, heads: int) -> Any:
    capture = OnnxCapturer(onnx.load(str(path))).run(inputs, with_qk=True)
    return capture, onnx_run(path, inputs), inputs, layers, heads


def _torch_case(module: nn.Module, inputs: dict[str, np.ndarray], layers: int, heads: int) -> Any:
    capture = TorchCapturer(module).run(inputs, with_qk=True)
    return capture, torch_run(module, inputs), inputs, layers, heads


CASES: dict[str, Case] = {
    "zoo transformer onnx": lambda d: _onnx_case(ZOO.onnx_path, zoo_inputs(), 2, 4),
    "zoo transformer ref": lambda d: _torch_case(ZOO.build(), zoo_inputs(), 2, 4),
    "TransformerEncoder torchscript export": lambda d: _onnx_case(
        am.export(am.encoder_classifier(), am.token_inputs(), d / "ts.onnx", dynamo=False),
        am.token_inputs(),
        am.LAYERS,
        am.HEADS,
    ),
    "TransformerEncoder dynamo export": lambda d: _onnx_case(
        am.export(am.encoder_classifier(), am.token_inputs(), d / "dynamo.onnx", dynamo=True),
        am.token_inputs(),
        am.LAYERS,
        am.HEADS,
    ),
    "TransformerEncoder module": lambda d: _torch_case(
        am.encoder_classifier(), am.token_inputs(), am.LAYERS, am.HEADS
    ),
    "BERT export": lambda d: _onnx_case(
        am.export(am.bert_classifier(), am.token_inputs(True), d / "bert.onnx", dynamo=False),
        am.token_inputs(True),
        2,
        2,
    ),
    "BERT module": lambda d: _torch_case(am.bert_classifier(), am.token_inputs(True), 2, 2),
    "(batch*heads, q, k) layout": lambda d: _onnx_case(
        am.export(am.FlatAttention(), am.token_inputs(), d / "flat.onnx", dynamo=False),
        am.token_inputs(),
        1,
        2,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_attention_is_found_in_every_layer_with_its_heads(
    case: str, captured: Callable[[str], Any]
) -> None:
    capture, original, inputs, layers, heads = captured(case)
    batch = first_dim(inputs)
    assert len(capture.sites) == len(capture.maps) == layers
    for raw in capture.maps:
        split = split_heads(raw, batch)
        assert split is not None and split.shape[:2] == (batch, heads)
        assert split.shape[2] == split.shape[3] == next(iter(inputs.values())).shape[1]
        assert max_row_sum_error(raw) <= 1e-4
    np.testing.assert_allclose(capture.output, original, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("case", "scale"),
    [
        ("zoo transformer onnx", "1/sqrt(d_k)"),
        ("zoo transformer ref", "1/sqrt(d_k)"),
        ("TransformerEncoder torchscript export", "1 (pre-scaled)"),
        ("BERT export", "1/sqrt(d_k)"),
    ],
)
def test_softmax_of_the_captured_queries_and_keys_is_the_map(
    case: str, scale: str, captured: Callable[[str], Any]
) -> None:
    capture, _, inputs, _, _ = captured(case)
    padding = next((a != 0 for name, a in inputs.items() if "mask" in name), None)
    for raw, qk in zip(capture.maps, capture.qk, strict=True):
        split = split_heads(raw, first_dim(inputs))
        result = verify_layer(raw, split, padding, padding, qk)
        assert (result.recompute, result.recompute_scale) == ("match", scale)
        if padding is not None:
            assert result.max_padding_weight is not None and not result.padding_attended


def test_a_cnn_has_no_attention() -> None:
    capturer = OnnxCapturer(onnx.load(str(get_reference("cnn_patch").onnx_path)))
    assert capturer.sites == () and capturer.fused_ops == ()
    module = get_reference("cnn_patch").build()
    pixels = load_task("planted_patch").test_batch(2)
    assert TorchCapturer(module).run(pixels).sites == ()


@pytest.mark.parametrize(
    ("kind", "named"),
    [("com.microsoft", "com.microsoft.Attention"), ("opset23", "ai.onnx.Attention")],
)
def test_fused_attention_is_named_not_captured(kind: str, named: str, folder: Path) -> None:
    model = onnx.load(str(am.fused_attention_model(folder / f"{kind}.onnx", kind)))
    capturer = OnnxCapturer(model)
    assert capturer.sites == ()
    assert capturer.fused_ops == (f"{named} ×1",)


def test_a_projection_softmax_is_not_attention() -> None:
    """A classifier head's Softmax over x @ W (a weight, not keys) is not an attention site."""
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["scores"]),
            helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        ],
        "head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 3])],
        [weight],
    )
    assert find_softmax_sites(helper.make_model(graph)) == ()


def test_capture_copy_leaves_the_model_alone() -> None:
    model = onnx.load(str(ZOO.onnx_path))
    before = model.SerializeToString()
    promoted = capture_model(model, find_softmax_sites(model), with_qk=True)
    assert model.SerializeToString() == before
    assert promoted.graph.output[0].name == "logits"
    assert len(promoted.graph.output) == 1 + 2 * 3  # logits, 2 maps, 2 x (Q, K^T)


# --- hooks ----------------------------------------------------------------------------------


def hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


class FailsAfterAttention(nn.Module):
    """The zoo Transformer's attention, then an error."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = ZOO.build()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.inner(input_ids, attention_mask)
        raise RuntimeError("boom after attention")


def test_hooks_are_removed_after_a_capture_and_after_an_error() -> None:
    module = ZOO.build()
    TorchCapturer(module).run(zoo_inputs(), with_qk=True)
    assert hook_count(module) == 0
    failing = FailsAfterAttention()
    with pytest.raises(RuntimeError, match="boom after attention"):
        TorchCapturer(failing).run(zoo_inputs(), with_qk=True)
    assert hook_count(failing) == 0


def test_ablation_hooks_are_removed_after_an_error() -> None:
    failing = FailsAfterAttention()
    sites = TorchCapturer(failing.inner).run(zoo_inputs()).sites
    inner_sites = [replace(site, name=f"inner.{site.name}") for site in sites]
    with pytest.raises(RuntimeError, match="boom after attention"):
        TorchAblator(failing, inner_sites).output(zoo_inputs(), [np.zeros(4), np.ones(4)])
    assert hook_count(failing) == 0


def test_hooks_are_removed_when_the_fast_path_switch_is_restored() -> None:
    encoder = am.encoder_classifier()
    backend = torch.backends.mha
    was = backend.get_fastpath_enabled()
    TorchCapturer(encoder).run(am.token_inputs())
    assert backend.get_fastpath_enabled() == was and hook_count(encoder) == 0


class AsksForNoWeights(nn.Module):
    """Calls ``nn.MultiheadAttention`` with need_weights=False and insists on getting None."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, weights = self.attention(x, x, x, need_weights=False)
        if weights is not None:
            raise AssertionError("the caller asked for no weights")
        return out.mean(dim=1)


def test_multihead_attention_gives_its_caller_what_it_asked_for() -> None:
    module = AsksForNoWeights().eval()
    x = np.random.default_rng(0).normal(size=(3, 5, 8)).astype(np.float32)
    capture = TorchCapturer(module).run({"x": x})
    assert [s.kind for s in capture.sites] == ["nn.MultiheadAttention"]
    assert capture.maps[0].shape == (3, 2, 5, 5)
    np.testing.assert_allclose(capture.output, torch_run(module, {"x": x}), atol=1e-5)
    assert hook_count(module) == 0
