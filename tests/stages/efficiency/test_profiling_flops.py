"""harness.stages.efficiency.flops: FLOPs and MACs of graphs and modules whose cost is known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from harness.core.efficiency import NodeFlops, OpFlops
from harness.stages.efficiency import flops
from harness.stages.efficiency.flops import count_onnx_work, count_torch_work
from harness.testing import onnx_builders

Shape = Sequence[int | str]


def _value(name: str, shape: Shape | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None if shape is None else shape)


def _weight(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: dict[str, Shape],
    outputs: dict[str, Shape | None],
    weights: Sequence[onnx.TensorProto] = (),
    opsets: Sequence[tuple[str, int]] = (),
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [_value(name, shape) for name, shape in inputs.items()],
        [_value(name, shape) for name, shape in outputs.items()],
        initializer=list(weights),
    )
    imports = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in opsets]
    return helper.make_model(graph, opset_imports=imports, ir_version=8)


def _by_op(work: Any) -> dict[str, OpFlops]:
    return {op.op_type: op for op in work.by_op}


# --- matrix products ------------------------------------------------------------------


def test_matmul_of_known_size_counts_exactly() -> None:
    # (2, 8, 32) @ (32, 16): batch 2, M 8, K 32, N 16.
    model = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        {"x": [2, 8, 32]},
        {"y": [2, 8, 16]},
        [_weight("w", (32, 16))],
    )
    work = count_onnx_work(model, {})
    assert work.flops == 2 * 8 * 16 * 32 * 2 == 16_384
    assert work.macs == 8 * 16 * 32 * 2
    assert work.by_op == (OpFlops("MatMul", 1, 16_384, 8_192),)
    assert work.top_nodes == (NodeFlops("MatMul#0", "MatMul", 16_384),)
    assert work.uncounted_ops == ()
    # Bytes: the 32x16 float32 weight, and the (2, 8, 16) float32 output written once.
    assert (work.weight_bytes, work.activation_bytes) == (32 * 16 * 4, 2 * 8 * 16 * 4)
    assert work.arithmetic_intensity == pytest.approx(16_384 / (2048 + 1024))
    assert work.batch_size == 2


def test_matmul_broadcasts_batch_dims() -> None:
    # (3, 1, 8, 32) @ (4, 32, 16) -> (3, 4, 8, 16): 12 products of 8x32 by 32x16.
    model = _model(
        [helper.make_node("MatMul", ["a", "b"], ["y"])],
        {"a": [3, 1, 8, 32], "b": [4, 32, 16]},
        {"y": None},
    )
    assert count_onnx_work(model, {}).flops == 2 * 8 * 16 * 32 * 12


@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm_with_trans_b_and_bias_counts_exactly(trans_a: int) -> None:
    # A (8, 32) (or (32, 8) transposed), B (16, 32) transposed, C (16,): M 8, K 32, N 16.
    a_shape = [32, 8] if trans_a else [8, 32]
    model = _model(
        [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=trans_a, transB=1)],
        {"a": a_shape},
        {"y": [8, 16]},
        [_weight("b", (16, 32)), _weight("c", (16,))],
    )
    work = count_onnx_work(model, {})
    assert work.flops == 2 * 8 * 16 * 32 + 8 * 16
    assert work.macs == 8 * 16 * 32


def test_gemm_without_bias() -> None:
    model = _model(
        [helper.make_node("Gemm", ["a", "b"], ["y"])],
        {"a": [8, 32]},
        {"y": [8, 16]},
        [_weight("b", (32, 16))],
    )
    assert count_onnx_work(model, {}).flops == 2 * 8 * 16 * 32


def test_einsum_batched_product() -> None:
    model = _model(
        [helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik")],
        {"a": [2, 8, 32], "b": [2, 32, 16]},
        {"y": None},
    )
    work = count_onnx_work(model, {})
    assert (work.flops, work.macs) == (2 * 2 * 8 * 32 * 16, 2 * 8 * 32 * 16)


# --- convolutions ---------------------------------------------------------------------


def test_conv_with_stride_padding_and_groups_counts_exactly() -> None:
    # X (2, 8, 15, 15), W (12, 8/2, 3, 3), group 2, stride 2, pad 1:
    # out side floor((15 + 2 - 3) / 2) + 1 = 8, so Y (2, 12, 8, 8).
    model = _model(
        [
            helper.make_node(
                "Conv", ["x", "w", "b"], ["y"], group=2, strides=[2, 2], pads=[1, 1, 1, 1]
            )
        ],
        {"x": [2, 8, 15, 15]},
        {"y": None},
        [_weight("w", (12, 4, 3, 3)), _weight("b", (12,))],
    )
    work = count_onnx_work(model, {})
    n, c_out, out_spatial, c_in_per_group, kernel = 2, 12, 8 * 8, 8 // 2, 3 * 3
    products = n * c_out * out_spatial * c_in_per_group * kernel
    assert work.flops == 2 * products + n * c_out * out_spatial
    assert work.macs == products


def test_conv_with_dilation_and_no_bias() -> None:
    # 1-D: X (1, 3, 20), W (5, 3, 4), dilation 2: effective kernel 7, out 20 - 7 + 1 = 14.
    model = _model(
        [helper.make_node("Conv", ["x", "w"], ["y"], dilations=[2])],
        {"x": [1, 3, 20]},
        {"y": None},
        [_weight("w", (5, 3, 4))],
    )
    assert count_onnx_work(model, {}).flops == 2 * 1 * 5 * 14 * 3 * 4


@pytest.mark.parametrize("group", [1, 2])
def test_conv_transpose_counts_exactly(group: int) -> None:
    # X (1, 4, 5, 5), W (4, Cout/group = 2, 3, 3), stride 2: Y (1, 2 * group, 11, 11).
    model = _model(
        [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], group=group)],
        {"x": [1, 4, 5, 5]},
        {"y": None},
        [_weight("w", (4, 2, 3, 3)), _weight("b", (2 * group,))],
    )
    work = count_onnx_work(model, {})
    # Each of the 100 input elements is scattered into Cout/group * 3 * 3 = 18 outputs.
    products = 1 * 4 * 5 * 5 * 2 * 3 * 3
    assert work.macs == products
    assert work.flops == 2 * products + 1 * 2 * group * 11 * 11


# --- the rest -------------------------------------------------------------------------


def test_elementwise_normalisation_and_pooling_rules() -> None:
    nodes = [
        helper.make_node("Add", ["x", "bias"], ["added"]),  # 2*3*4*4 = 96 elements: 96
        helper.make_node("Relu", ["added"], ["relu"]),  # 96
        helper.make_node(
            "BatchNormalization", ["relu", "scale", "shift", "mean", "var"], ["bn"]
        ),  # 2 * 96
        helper.make_node("MaxPool", ["bn"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
        # out (2, 3, 2, 2) = 24 elements, 4 compares each: 96
        helper.make_node("GlobalAveragePool", ["pooled"], ["gap"]),  # 24 inputs: 24
        helper.make_node("Flatten", ["gap"], ["flat"]),  # 0
        helper.make_node("Softmax", ["flat"], ["probs"]),  # (2, 3): 5 * 6 = 30
        helper.make_node("Sum", ["probs", "probs", "probs"], ["summed"]),  # 2 * 6 = 12
    ]
    weights = [_weight(name, (3,)) for name in ("scale", "shift", "mean", "var")]
    model = _model(
        nodes,
        {"x": [2, 3, 4, 4]},
        {"summed": None},
        [_weight("bias", (4,)), *weights],
    )
    work = count_onnx_work(model, {})
    expected = {
        "Add": 96,
        "Relu": 96,
        "BatchNormalization": 192,
        "MaxPool": 96,
        "GlobalAveragePool": 24,
        "Flatten": 0,
        "Softmax": 30,
        "Sum": 12,
    }
    assert {op: o.flops for op, o in _by_op(work).items()} == expected
    assert work.flops == sum(expected.values())
    assert work.macs == 0
    assert [o.op_type for o in work.by_op][:2] == ["BatchNormalization", "Add"]
    assert work.uncounted_ops == ()


def test_layer_normalization_and_gelu_per_element() -> None:
    model = _model(
        [
            helper.make_node("LayerNormalization", ["x", "g"], ["ln"], axis=-1),
            helper.make_node("Gelu", ["ln"], ["y"]),
        ],
        {"x": [2, 5, 8]},
        {"y": None},
        [_weight("g", (8,))],
    )
    model.opset_import[0].version = 20  # Gelu is an ai.onnx op from opset 20
    by_op = _by_op(count_onnx_work(model, {}))
    assert by_op["LayerNormalization"].flops == 8 * 80
    assert by_op["Gelu"].flops == 5 * 80


def test_gru_counts_gates_and_cell() -> None:
    # T 5, batch 2, input 4, hidden 3, one direction, with biases.
    steps, batch, inputs, hidden = 5, 2, 4, 3
    model = _model(
        [helper.make_node("GRU", ["x", "w", "r", "b"], ["y", "h"], hidden_size=hidden)],
        {"x": [steps, batch, inputs]},
        {"y": None, "h": None},
        [
            _weight("w", (1, 3 * hidden, inputs)),
            _weight("r", (1, 3 * hidden, hidden)),
            _weight("b", (1, 6 * hidden)),
        ],
    )
    work = count_onnx_work(model, {})
    units = steps * batch * hidden
    macs = units * 3 * (inputs + hidden)
    # Per step and unit: 3 gate sums, 6 bias adds, 8 cell ops (3 activations, reset
    # product, and (1 - z) * n + z * h).
    assert (work.macs, work.flops) == (macs, 2 * macs + units * (3 + 6 + 8))


def test_an_op_without_a_rule_is_uncounted() -> None:
    model = _model(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("LRN", ["r"], ["y"], size=3),
        ],
        {"x": [1, 4, 5, 5]},
        {"y": None},
    )
    work = count_onnx_work(model, {})
    assert work.uncounted_ops == ("LRN",)
    assert work.by_op == (OpFlops("Relu", 1, 100, 0),)
    assert work.flops == 100


def test_ops_after_an_unknown_domain_op_are_uncounted() -> None:
    model = _model(
        [
            helper.make_node("MysteryOp", ["x"], ["m"], domain="com.example"),
            helper.make_node("Relu", ["m"], ["y"]),
        ],
        {"x": [2, 4]},
        {"y": None},
        opsets=[("com.example", 1)],
    )
    work = count_onnx_work(model, {})
    assert work.uncounted_ops == ("Relu", "com.example.MysteryOp")
    assert (work.flops, work.by_op) == (0, ())


def test_a_node_with_subgraphs_is_uncounted() -> None:
    def branch(name: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Relu", ["x"], [f"{name}_out"])],
            name,
            [],
            [_value(f"{name}_out", [2, 4])],
        )

    model = _model(
        [
            helper.make_node(
                "If", ["cond"], ["y"], then_branch=branch("then"), else_branch=branch("other")
            )
        ],
        {"x": [2, 4]},
        {"y": None},
    )
    model.graph.input.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))
    assert count_onnx_work(model, {}).uncounted_ops == ("If",)


def test_top_nodes_are_the_largest_and_named() -> None:
    model = _model(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="small"),
            helper.make_node("MatMul", ["h", "w2"], ["y"]),
        ],
        {"x": [1, 4]},
        {"y": None},
        [_weight("w", (4, 4)), _weight("w2", (4, 64))],
    )
    work = count_onnx_work(model, {}, top=1)
    assert work.top_nodes == (NodeFlops("MatMul#1", "MatMul", 2 * 4 * 64),)
    assert work.by_op == (OpFlops("MatMul", 2, 2 * 16 + 2 * 256, 16 + 256),)


# --- shapes ---------------------------------------------------------------------------


def test_symbolic_dims_are_substituted(tmp_path: Path) -> None:
    proto = onnx.load(onnx_builders.tiny_cnn(tmp_path))
    one = count_onnx_work(proto, {"pixels": (1, 1, 28, 28)})
    four = count_onnx_work(proto, {"pixels": (4, 1, 28, 28)})
    assert (one.batch_size, four.batch_size) == (1, 4)
    assert one.uncounted_ops == () and one.flops > 0
    assert four.flops == 4 * one.flops
    assert four.macs == 4 * one.macs
    assert four.activation_bytes == 4 * one.activation_bytes
    assert four.weight_bytes == one.weight_bytes
    # The caller's model is not touched.
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_unsubstituted_symbolic_dims_leave_ops_uncounted() -> None:
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])],
        {"x": ["batch", 4]},
        {"y": ["batch", 4]},
    )
    assert count_onnx_work(model, {}).uncounted_ops == ("Relu",)
    assert count_onnx_work(model, {"x": (3, 4)}).flops == 12


def test_a_large_external_weight_is_counted(tmp_path: Path) -> None:
    proto = onnx.load(onnx_builders.external_data_model(tmp_path))
    work = count_onnx_work(proto, {"x": (3, 64)})
    assert work.flops == 2 * 3 * 64 * 64
    assert work.weight_bytes == 64 * 64 * 4
    assert len(proto.graph.initializer) == 1  # still the caller's


class _Decoder(nn.Module):
    """Linear -> Unflatten -> ConvTranspose: the exporter computes the Unflatten target with
    Shape, Mod and Slice, which ONNX's data propagation does not follow."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(4, 2 * 3 * 3), nn.Unflatten(1, (2, 3, 3)), nn.ConvTranspose2d(2, 5, 2, 2)
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.layers(code)


def test_shapes_computed_by_arithmetic_are_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = onnx_builders._export(
        _Decoder(),
        (torch.zeros(2, 4),),
        tmp_path / "decoder.onnx",
        {"code": {0: "batch"}},
        {"y": {0: "batch"}},
    )
    proto = onnx.load(path)
    work = count_onnx_work(proto, {"code": (3, 4)})
    assert work.uncounted_ops == ()
    expected = count_torch_work(_Decoder(), {"code": np.zeros((3, 4), np.float32)})
    assert work.macs == expected.macs == 3 * 4 * 18 + 3 * 2 * 3 * 3 * 5 * 2 * 2
    monkeypatch.setattr(flops, "_MAX_FOLD_ROUNDS", 0)  # inference alone loses the shape
    assert "ConvTranspose" in count_onnx_work(proto, {"code": (3, 4)}).uncounted_ops


def test_shapes_for_an_unknown_input_are_rejected() -> None:
    model = _model([helper.make_node("Relu", ["x"], ["y"])], {"x": [2]}, {"y": None})
    with pytest.raises(ValueError, match=r"given for \['pixels'\].*its inputs are \['x'\]"):
        count_onnx_work(model, {"pixels": (2,)})


def test_tiny_cnn_matches_torch_flop_counter(tmp_path: Path) -> None:
    proto = onnx.load(onnx_builders.tiny_cnn(tmp_path))
    onnx_work = count_onnx_work(proto, {"pixels": (2, 1, 28, 28)})
    torch.manual_seed(0)
    module = onnx_builders._TinyCNN().eval()
    torch_work = count_torch_work(module, {"pixels": np.zeros((2, 1, 28, 28), np.float32)})
    onnx_ops, torch_ops = _by_op(onnx_work), _by_op(torch_work)
    # Products agree exactly; torch's counter leaves out the bias adds the graph counts.
    assert onnx_ops["Conv"].macs == torch_ops["aten.convolution"].macs
    assert onnx_ops["Gemm"].macs == torch_ops["aten.addmm"].macs
    onnx_products = onnx_ops["Conv"].flops + onnx_ops["Gemm"].flops
    assert onnx_products == pytest.approx(torch_work.flops, rel=0.02)
    assert onnx_work.weight_bytes == torch_work.weight_bytes


# --- torch ----------------------------------------------------------------------------


def test_torch_linear_counts_exactly() -> None:
    work = count_torch_work(nn.Linear(32, 16), {"input": np.zeros((8, 32), np.float32)})
    assert work.flops == 2 * 8 * 32 * 16
    assert work.macs == 8 * 32 * 16
    assert work.by_op == (OpFlops("aten.addmm", 1, 8192, 4096),)
    assert work.top_nodes == (NodeFlops("Linear", "Linear", 8192),)
    assert work.weight_bytes == (32 * 16 + 16) * 4
    assert work.activation_bytes == 8 * 16 * 4
    assert work.batch_size == 8
    assert work.uncounted_ops == ()


def test_torch_counts_calls_and_ranks_leaf_modules() -> None:
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Linear(8, 2))
    work = count_torch_work(module, {"input": np.zeros((3, 4), np.float32)}, top=2)
    assert work.by_op == (OpFlops("aten.addmm", 3, 2 * 3 * (32 + 64 + 16), 3 * (32 + 64 + 16)),)
    assert work.top_nodes == (
        NodeFlops("2", "Linear", 2 * 3 * 64),
        NodeFlops("0", "Linear", 2 * 3 * 32),
    )


class _Failing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.linear(x)
        raise RuntimeError("boom")


def test_torch_hooks_are_removed_after_an_error() -> None:
    module = _Failing()
    with pytest.raises(RuntimeError, match="boom"):
        count_torch_work(module, {"x": np.zeros((2, 4), np.float32)})
    assert not module.linear._forward_hooks
    assert not module._forward_hooks
