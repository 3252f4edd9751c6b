"""The embedding search on ONNX graphs: a Gather on a float table indexed by the ids in any
way their values flow (cast, offset, clipped), a one-hot times a table, and what is not an
embedding (position ids made from the length, ids used as numbers, an integer remap)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.stages.explanations.embedding import embedding_nodes, node_key, value_dependents


def graph(nodes: list[onnx.NodeProto], *tables: tuple[str, np.ndarray]) -> onnx.GraphProto:
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 6])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    initializers = [numpy_helper.from_array(values, name) for name, values in tables]
    return helper.make_graph(nodes, "g", [ids], [out], initializers)


TABLE = ("table", np.zeros((10, 4), np.float32))
POSITIONS = ("positions", np.zeros((6, 4), np.float32))


def found(g: onnx.GraphProto) -> list[str]:
    return [node_key(node, index) for index, node in embedding_nodes(g, "ids")]


def test_a_gather_indexed_by_offset_ids_is_the_embedding():
    g = graph(
        [
            helper.make_node("Add", ["ids", "three"], ["shifted"], name="offset"),
            helper.make_node("Gather", ["table", "shifted"], ["y"], name="embed"),
        ],
        TABLE,
        ("three", np.array(3, np.int64)),
    )
    assert found(g) == ["embed"]


def test_the_word_table_wins_over_positions_and_length_carries_no_values():
    g = graph(
        [
            helper.make_node("Shape", ["ids"], ["shape"], name="shape"),
            helper.make_node("Gather", ["shape", "one"], ["length"], name="length", axis=0),
            helper.make_node("Range", ["zero", "length", "one"], ["position_ids"], name="range"),
            helper.make_node("Gather", ["positions", "position_ids"], ["pos"], name="pos_embed"),
            helper.make_node("Gather", ["table", "ids"], ["tok"], name="word_embed"),
            helper.make_node("Add", ["tok", "pos"], ["y"], name="sum"),
        ],
        TABLE,
        POSITIONS,
        ("zero", np.array(0, np.int64)),
        ("one", np.array(1, np.int64)),
    )
    assert "position_ids" not in value_dependents(g, "ids")
    assert found(g) == ["word_embed"]


def test_a_one_hot_made_by_equal_and_cast_times_a_table_is_the_embedding():
    g = graph(
        [
            helper.make_node("Unsqueeze", ["ids", "last"], ["ids3"], name="unsqueeze"),
            helper.make_node("Equal", ["ids3", "vocab_range"], ["hot"], name="equal"),
            helper.make_node("Cast", ["hot"], ["hot_f"], name="cast", to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["hot_f", "table"], ["y"], name="embed"),
        ],
        TABLE,
        ("last", np.array([-1], np.int64)),
        ("vocab_range", np.arange(10, dtype=np.int64)),
    )
    assert found(g) == ["embed"]


def test_ids_used_as_numbers_and_an_integer_remap_are_not_embeddings():
    g = graph(
        [
            helper.make_node("Gather", ["remap", "ids"], ["remapped"], name="remap"),
            helper.make_node("Cast", ["remapped"], ["f"], name="cast", to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["f", "dense"], ["y"], name="dense"),
        ],
        ("remap", np.arange(10, dtype=np.int64).reshape(10, 1).repeat(2, 1)),
        ("dense", np.zeros((2, 3), np.float32)),
    )
    assert found(g) == []
