"""harness.stages.efficiency.flops on real exports: shapes observed in onnxruntime where
inference stops, the share of nodes whose cost is unknown, and when a count is incomplete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.stages.efficiency import flops, observed_shapes
from harness.stages.efficiency.flops import UNKNOWN_SHARE_LIMIT, count_onnx_work
from harness.testing.wild import work as wild

BATCH, SEQ = 2, 16
H, HEADS, D, F = wild.ENCODER_HIDDEN, wild.ENCODER_HEADS, wild.ENCODER_HEAD_DIM, wild.ENCODER_FFN


def bert_matmul_flops(b: int, s: int) -> int:
    """By hand: Q, K, V and output projections, scores and context, the two FFN products."""
    projections = 4 * 2 * b * s * H * H
    attention = 2 * (2 * b * HEADS * s * s * D)
    ffn = 2 * (2 * b * s * H * F)
    return projections + attention + ffn


def bert_total_flops(b: int, s: int) -> int:
    """By hand, every node of build_bert_dynamic_reshape (module docstring's rules)."""
    tokens, scores = b * s, b * HEADS * s * s
    layer_norms = 3 * 8 * tokens * H
    adds = 7 * tokens * H + tokens * F + scores + tokens * F  # biases, residuals, mask, gelu
    divs = scores + tokens * F  # scale, gelu's x / sqrt 2
    muls = tokens + 2 * tokens * F  # mask * -10000, gelu's two products
    subs = tokens  # 1 - mask
    return (
        bert_matmul_flops(b, s)
        + layer_norms
        + adds
        + divs
        + muls
        + subs
        + tokens * F
        + (
            5 * scores  # softmax; tokens * F above: erf
        )
    )


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    return onnx.load(wild.build_bert_dynamic_reshape(tmp_path_factory.mktemp("bert")))


def bert_inputs(b: int = BATCH, s: int = SEQ) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(0).integers(0, wild.ENCODER_VOCAB, (b, s), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((b, s), dtype=np.int64)}


def shapes_of(inputs: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(array.shape) for name, array in inputs.items()}


def test_bert_without_observation_is_incomplete_with_the_reason(bert) -> None:
    inputs = bert_inputs()
    work = count_onnx_work(bert, shapes_of(inputs))
    assert work.status == "incomplete" and not work.complete
    assert work.incomplete_reason is not None
    assert "among them MatMul, where most of the work is" in work.incomplete_reason
    assert "MatMul x3 (shapes unknown)" in work.incomplete_reason
    unknown = work.unknown_cost_share * len(bert.graph.node)
    assert unknown == pytest.approx(7)  # 3 MatMuls, 2 Adds, the scale's Div, the Softmax
    assert work.flops < bert_total_flops(BATCH, SEQ)  # a lower bound


@pytest.mark.parametrize(("b", "s"), [(BATCH, SEQ), (1, 5)])
def test_bert_with_observed_shapes_matches_the_hand_count(bert, b: int, s: int) -> None:
    inputs = bert_inputs(b, s)
    work = count_onnx_work(bert, shapes_of(inputs), inputs=inputs)
    assert (work.status, work.unknown_cost_share, work.incomplete_reason) == ("complete", 0, None)
    assert work.uncounted_ops == ()
    by_op = {op.op_type: op for op in work.by_op}
    assert by_op["MatMul"].count == 8
    assert by_op["MatMul"].flops == bert_matmul_flops(b, s)
    assert by_op["Softmax"].flops == 5 * b * HEADS * s * s
    assert work.flops == bert_total_flops(b, s)


def test_only_the_unknown_tensors_are_observed(bert, monkeypatch) -> None:
    asked: list[set[str]] = []
    real = observed_shapes.observe_shapes

    def spy(proto, inputs, names, *, threads=None):
        asked.append(set(names))
        return real(proto, inputs, names, threads=threads)

    monkeypatch.setattr(flops, "observe_shapes", spy)
    inputs = bert_inputs()
    count_onnx_work(bert, shapes_of(inputs), inputs=inputs)
    (names,) = asked
    assert {"query_split", "scores", "probs", "context", "context_merged"} <= names
    weights = {t.name for t in bert.graph.initializer}
    assert not names & weights
    # Inputs, what inference reached before the reshapes, and shape data of known length.
    assert not names & {"input_ids", "emb", "query_mm", "x_shape", "split_shape", "seq_1d"}


def test_nothing_is_observed_when_inference_knows_every_shape(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("observed although every shape was inferred")

    monkeypatch.setattr(flops, "observe_shapes", refuse)
    model = onnx.load(wild.build_constant_node_weights(tmp_path))
    x = np.ones((3, wild.CONSTANT_MLP_IN), dtype=np.float32)
    assert count_onnx_work(model, {"x": x.shape}, inputs={"x": x}).complete


def test_observe_shapes_reports_shape_and_type_of_what_inference_misses(bert) -> None:
    # A graph input and a weight are not the run's to tell: not promoted, not observed.
    names = {"pair_row", "probs", "input_ids", "word_embeddings"}
    observed = observed_shapes.observe_shapes(bert, bert_inputs(), names)
    assert observed == {
        "pair_row": ((1, 2), TensorProto.INT64),
        "probs": ((BATCH, HEADS, SEQ, SEQ), TensorProto.FLOAT),
    }


def test_a_graph_onnxruntime_cannot_run_observes_nothing(tmp_path: Path) -> None:
    # com.example has no kernel in onnxruntime: the run fails, quietly, and the MatMul after
    # the op stays unknown (so the count says incomplete, not a number).
    graph = helper.make_graph(
        [
            helper.make_node("MysteryOp", ["x"], ["y"], domain="com.example"),
            helper.make_node("MatMul", ["y", "w"], ["z"]),
        ],
        "mystery",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 4])],
        [numpy_helper.from_array(np.ones((4, 4), np.float32), "w")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    )
    x = np.ones((2, 4), dtype=np.float32)
    assert observed_shapes.observe_shapes(model, {"x": x}, {"y"}) == {}
    work = count_onnx_work(model, {"x": (2, 4)}, inputs={"x": x})
    assert work.status == "incomplete"
    assert work.unknown_cost_share == 1.0
    assert "MatMul x1 (shapes unknown)" in (work.incomplete_reason or "")
    assert "com.example.MysteryOp x1 (custom-domain op)" in (work.incomplete_reason or "")


def test_contrib_ops_are_unknown_and_the_matmul_after_them_observed(tmp_path: Path) -> None:
    model = onnx.load(wild.build_contrib_op_block(tmp_path))
    x = np.ones((BATCH, SEQ, wild.CONTRIB_HIDDEN), dtype=np.float32)
    work = count_onnx_work(model, {"x": x.shape}, inputs={"x": x})
    assert work.status == "incomplete"
    assert work.unknown_cost_share == 0.75
    assert work.incomplete_reason is not None
    assert work.incomplete_reason.startswith(
        "the cost of 3 of 4 nodes (75.0%) is unknown, among them com.microsoft.FusedMatMul"
    )
    assert [(op.op_type, op.flops) for op in work.by_op] == [
        ("MatMul", 2 * BATCH * SEQ * wild.CONTRIB_HIDDEN**2)
    ]


# --- the threshold ------------------------------------------------------------------------


def relu_fan(length: int, custom: int, custom_op: str = "Mystery") -> onnx.ModelProto:
    """``length`` nodes, each reading x (4,): the first ``custom`` are com.example ops, the
    rest Relu (whose shapes inference knows from x's)."""
    nodes = [
        helper.make_node(custom_op, ["x"], [f"t{i}"], domain="com.example")
        if i < custom
        else helper.make_node("Relu", ["x"], [f"t{i}"])
        for i in range(length)
    ]
    graph = helper.make_graph(
        nodes,
        "fan",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info(f"t{length - 1}", TensorProto.FLOAT, [4])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    )


def test_a_share_up_to_the_limit_is_complete() -> None:
    assert UNKNOWN_SHARE_LIMIT == 0.05
    work = count_onnx_work(relu_fan(20, 1), {})
    assert (work.status, work.unknown_cost_share) == ("complete", 0.05)
    assert work.uncounted_ops == ("com.example.Mystery",)
    assert work.flops == 19 * 4


def test_a_share_over_the_limit_is_incomplete() -> None:
    work = count_onnx_work(relu_fan(20, 2), {})
    assert work.status == "incomplete"
    assert work.incomplete_reason == (
        "the cost of 2 of 20 nodes (10.0%) is unknown, over the 5% limit: "
        "com.example.Mystery x2 (custom-domain op)"
    )


@pytest.mark.parametrize("op", ["FusedConv", "QAttention", "MyMatMulNBits", "Gemm"])
def test_one_unknown_heavy_op_makes_it_incomplete(op: str) -> None:
    work = count_onnx_work(relu_fan(100, 1, op), {})
    assert work.unknown_cost_share == 0.01
    assert work.status == "incomplete"
    assert f"among them com.example.{op}, where most of the work is" in (
        work.incomplete_reason or ""
    )


def test_torch_counts_are_complete() -> None:
    import torch

    work = flops.count_torch_work(torch.nn.Linear(8, 4), {"input": np.ones((2, 8), np.float32)})
    assert (work.status, work.unknown_cost_share, work.incomplete_reason) == ("complete", 0, None)
