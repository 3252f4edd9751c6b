"""Models that take a long time per call, for the budgets' tests: a budget must hold, and
its results say what it cut, on a model that takes a good part of a second (or seconds)
per call.

``matmul_chain`` is a chain of square MatMuls over one shared weight (the file stays a few
MiB however long the chain): its cost per call is ``2 * rows * width**2 * depth`` FLOPs per
batch row, so ``depth`` sets the time per call on a given machine (about 0.5 GFLOP per link
at the defaults: 0.3-0.5 s per call for 16 links on a laptop core). Every node's cost is
known, so its work count is complete and it gets a roofline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["matmul_chain", "matmul_chain_flops"]

OPSET = 17
IR_VERSION = 8


def matmul_chain(dest: Path, *, rows: int = 256, width: int = 1024, depth: int = 16) -> Path:
    """``x: [N, rows, width] -> y: [N, rows, width]`` through ``depth`` MatMuls by one
    ``width x width`` weight, scaled by 1/sqrt(width) so values neither grow nor vanish."""
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    names = ["x", *(f"h{i}" for i in range(1, depth)), "y"]
    nodes = [
        helper.make_node("MatMul", [names[i], "w"], [names[i + 1]], name=f"link{i}")
        for i in range(depth)
    ]
    graph = helper.make_graph(
        nodes,
        "matmul_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", rows, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", rows, width])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="slow_models",
    )
    onnx.checker.check_model(model)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "matmul_chain.onnx"
    onnx.save_model(model, str(path))
    return path


def matmul_chain_flops(batch: int, *, rows: int = 256, width: int = 1024, depth: int = 16) -> int:
    """FLOPs of one call of ``matmul_chain`` at ``batch`` (a multiply-add counts two)."""
    return 2 * batch * rows * width * width * depth
