"""Shapes onnxruntime observes: the FLOP counter's fallback for the tensors whose shapes
neither ONNX shape inference nor constant folding could give.

Real exports compute Reshape targets from the input's dynamic dims through ops that
inference does not follow and onnx's reference evaluator cannot run (a ``GatherElements``
it rejects, a contrib op of onnxruntime's own): every MatMul after such a Reshape would
count nothing. onnxruntime runs them, so the graph is run once with the unknown tensors
promoted to graph outputs, at the audit's own inputs, and the shapes it returns stand in.

Bounded: only the tensors still unknown are promoted (so the extra memory is at most the
model's activations at the audit's batch, held together to the end of the run), the run is
made only when some are unknown, without graph optimisations (which would fuse the very
tensors asked for away), and on the CPU: shapes do not depend on the device.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from harness.core.errors import first_line
from harness.core.onnx_graph import copy_model
from harness.core.sessions import SessionSettings, create_session

if TYPE_CHECKING:
    import numpy as np
    import onnx

__all__ = ["ObservedTensor", "observe_shapes"]

logger = logging.getLogger(__name__)

# (shape, ONNX element type; 0 when numpy's dtype has no ONNX counterpart)
ObservedTensor = tuple[tuple[int, ...], int]


def observe_shapes(
    proto: onnx.ModelProto,
    inputs: Mapping[str, np.ndarray],
    names: Collection[str],
    *,
    threads: int | None = None,
) -> dict[str, ObservedTensor]:
    """Name -> (shape, element type) of each tensor of NAMES (values of the main graph) as
    one onnxruntime run of PROTO at INPUTS produces it. Tensors onnxruntime does not
    return as arrays (sequences, maps) are left out; when the graph cannot be run, nothing
    is observed and the reason is logged: the counter then reports those nodes' cost as
    unknown, which is the truth."""
    if not names:
        return {}
    promoted = _with_outputs(proto, names)
    settings = SessionSettings(intra_op_threads=threads, graph_optimization="ORT_DISABLE_ALL")
    try:
        session = create_session(promoted, settings)
        wanted = [o.name for o in session.get_outputs() if o.name in names]
        feeds = {i.name: inputs[i.name] for i in session.get_inputs() if i.name in inputs}
        values = session.run(wanted, feeds)
    except Exception as exc:  # onnxruntime's own exception types, whatever stops the run
        reason = first_line(exc)
        logger.info("shapes not observed: onnxruntime could not run the graph (%s)", reason)
        return {}
    observed = {
        name: (tuple(int(d) for d in value.shape), _element_type(value))
        for name, value in zip(wanted, values, strict=True)
        if hasattr(value, "shape") and hasattr(value, "dtype")
    }
    logger.info("shapes of %d tensors observed by onnxruntime", len(observed))
    return observed


def _with_outputs(proto: onnx.ModelProto, names: Collection[str]) -> onnx.ModelProto:
    """A copy of PROTO whose graph also outputs those of NAMES that nodes write (untyped:
    onnxruntime fills in the type it computes); graph inputs and initializers stay what
    they are, their shapes are not the run's to tell."""
    import onnx

    model = copy_model(proto)
    graph = model.graph
    written = {name for node in graph.node for name in node.output if name}
    outputs = {value.name for value in graph.output}
    for name in sorted((set(names) & written) - outputs):
        graph.output.append(onnx.ValueInfoProto(name=name))
    return model


def _element_type(value: np.ndarray) -> int:
    from onnx import helper

    try:
        return int(helper.np_dtype_to_tensor_dtype(value.dtype))
    except (KeyError, TypeError, ValueError):
        return 0
