"""Every Softmax gets a verdict with its reason, and an explicit-axis attention Softmax
whose rank shape inference cannot give is found from the ranks onnxruntime observes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.core.onnx_graph import infer_shapes, ranks
from harness.explainers.attention.capture_onnx import (
    OnnxCapturer,
    examine_softmaxes,
    promoted_model,
    unranked_softmax_inputs,
)
from harness.testing.wild import heads


@pytest.fixture(scope="module")
def vit(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    return onnx.load(str(heads.build_vit_unranked(tmp_path_factory.mktemp("vit"))))


def pixels(batch: int = 2) -> dict[str, np.ndarray]:
    shape = (batch, 3, heads.IMAGE_SIZE, heads.IMAGE_SIZE)
    return {"pixel_values": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}


def observe(model: onnx.ModelProto, names: tuple[str, ...]) -> dict[str, int]:
    session = ort.InferenceSession(promoted_model(model, names).SerializeToString())
    values = session.run(list(names), pixels())
    return {name: value.ndim for name, value in zip(names, values, strict=True)}


def test_shape_inference_cannot_rank_the_vit_attention(vit: onnx.ModelProto) -> None:
    inferred = infer_shapes(vit)
    assert inferred is not None
    known = ranks(inferred.graph)
    assert "l0_scores" not in known and "l1_scores" not in known
    assert unranked_softmax_inputs(vit) == ("l0_scores", "l1_scores")


def test_without_observed_ranks_the_attention_is_rejected_and_says_why(
    vit: onnx.ModelProto,
) -> None:
    sites, verdicts = examine_softmaxes(vit)
    assert sites == ()
    by_name = {v.name: v for v in verdicts}
    assert [v.verdict for v in verdicts] == ["rejected"] * 3
    assert "rank is unknown" in by_name["l0_attention"].reason
    assert "constant operand" in by_name["probs"].reason


def test_observed_ranks_find_both_layers_and_capture_them(vit: onnx.ModelProto) -> None:
    observed = observe(vit, unranked_softmax_inputs(vit))
    assert observed == {"l0_scores": 4, "l1_scores": 4}
    capturer = OnnxCapturer(vit, threads=1, observed_ranks=observed)
    assert [s.name for s in capturer.sites] == ["l0_attention", "l1_attention"]
    found = [v for v in capturer.candidates if v.verdict == "found"]
    assert [v.name for v in found] == ["l0_attention", "l1_attention"]
    assert all("observed by onnxruntime" in v.reason for v in found)
    capture = capturer.run(pixels())
    for attention in capture.maps:
        assert attention.shape == (2, heads.VIT_HEADS, heads.VIT_PATCHES, heads.VIT_PATCHES)
        np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)


def test_a_softmax_over_a_middle_axis_is_rejected_as_not_the_last() -> None:
    model = _scores_model(axis=1, transposed=True)
    (verdict,) = examine_softmaxes(model)[1]
    assert verdict.verdict == "rejected"
    assert verdict.reason == (
        "Softmax over axis 1 of a rank-4 input (its rank inferred by ONNX shape inference): "
        "not its last"
    )


def test_scores_of_untransposed_keys_are_rejected() -> None:
    (verdict,) = examine_softmaxes(_scores_model(axis=-1, transposed=False))[1]
    assert verdict.verdict == "rejected" and "not a transposed key" in verdict.reason


def test_an_explicit_last_axis_with_an_inferred_rank_is_found() -> None:
    sites, (verdict,) = examine_softmaxes(_scores_model(axis=3, transposed=True))
    assert [s.name for s in sites] == ["attention"]
    assert verdict.reason.endswith("(axis 3 of a rank-4 input, its rank inferred by ONNX shape "
                                   "inference)")  # fmt: skip


def _scores_model(axis: int, transposed: bool) -> onnx.ModelProto:
    """softmax(q @ k^T, axis) over (1, 2, 4, 8) queries and keys, both computed (Identity)."""
    nodes = [
        helper.make_node("Identity", ["q_in"], ["q"]),
        helper.make_node("Identity", ["k_in"], ["k"]),
    ]
    key = "k"
    if transposed:
        nodes.append(helper.make_node("Transpose", ["k"], ["k_t"], perm=[0, 1, 3, 2]))
        key = "k_t"
    else:
        nodes.append(helper.make_node("Identity", ["k"], ["k_t"]))
    nodes += [
        helper.make_node("MatMul", ["q", key], ["scores"], name="scores"),
        helper.make_node("Softmax", ["scores"], ["attention"], name="attention", axis=axis),
    ]
    shape = [1, 2, 4, 8] if transposed else [1, 2, 8, 4]
    graph = helper.make_graph(
        nodes,
        "scores",
        [
            helper.make_tensor_value_info("q_in", TensorProto.FLOAT, [1, 2, 4, 8]),
            helper.make_tensor_value_info("k_in", TensorProto.FLOAT, shape),
        ],
        [helper.make_tensor_value_info("attention", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_promoted_model_keeps_the_first_output_and_adds_the_named() -> None:
    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Relu", ["h"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    promoted = promoted_model(model, ["h", "y"])
    assert [o.name for o in promoted.graph.output] == ["y", "h"]
    assert [o.name for o in model.graph.output] == ["y"]
