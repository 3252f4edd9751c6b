"""ONNX export of a reference model, checked against the module it came from.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: it is deterministic
(same weights, same bytes), needs no onnxscript, and gives a plain graph with the input and
output names of the registry entry. Every symbolic dimension of the entry's specs (``batch``)
becomes a named dynamic axis.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.core.errors import InternalError, first_line
from harness.core.model import TensorSpec
from harness.core.sessions import SessionSettings, create_session
from harness.models.train import write_bytes_atomic

if TYPE_CHECKING:
    import numpy as np
    import onnx
    from torch import nn

    from harness.models import ReferenceModel

__all__ = ["OPSET", "VERIFY_ATOL", "VERIFY_BATCH_SIZES", "export_onnx", "onnx_bytes"]

logger = logging.getLogger(__name__)

OPSET = 17
VERIFY_ATOL = 1e-4
VERIFY_BATCH_SIZES = (1, 3)
# Traced at a batch size the checks do not use, so that a size baked into the graph shows.
_TRACE_BATCH_SIZE = 2
_VERIFY_START = 0  # first test sample used


def export_onnx(module: nn.Module, path: Path, reference: ReferenceModel) -> bytes:
    """Export ``module`` to ``path`` atomically, after checking it; returns the bytes written."""
    data = onnx_bytes(module, reference)
    write_bytes_atomic(path, data)
    logger.info("wrote %s (%d bytes)", path, len(data))
    return data


def onnx_bytes(module: nn.Module, reference: ReferenceModel) -> bytes:
    """The serialized ONNX model of ``module``: exported, tagged, checked and verified.

    Raises ``InternalError`` when the checker rejects the graph or onnxruntime's outputs
    differ from torch's by more than ``VERIFY_ATOL`` at any of ``VERIFY_BATCH_SIZES``.
    """
    import onnx

    was_training = module.training
    module.eval()
    try:
        model = onnx.load_from_string(_trace(module, reference))
        _tag(model, reference)
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise InternalError(
                f"ONNX export of '{reference.name}' fails the checker: {first_line(exc)}"
            ) from exc
        data = model.SerializeToString()
        for batch_size, sequence_length in _verify_sizes(reference):
            _verify(module, data, reference, batch_size, sequence_length)
    finally:
        module.train(was_training)
    return data


def _trace(module: nn.Module, reference: ReferenceModel) -> bytes:
    import torch

    args = tuple(torch.from_numpy(x) for x in _example_inputs(reference, _TRACE_BATCH_SIZE))
    dynamic_axes = {spec.name: _dynamic_axes(spec) for spec in reference.inputs + reference.outputs}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated; it still works and is what we want here.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            args,
            cast(Any, buffer),  # the legacy exporter writes to file-like objects too
            dynamo=False,
            opset_version=OPSET,
            input_names=[spec.name for spec in reference.inputs],
            output_names=[spec.name for spec in reference.outputs],
            dynamic_axes={name: axes for name, axes in dynamic_axes.items() if axes},
        )
    return buffer.getvalue()


def _tag(model: onnx.ModelProto, reference: ReferenceModel) -> None:
    """Record which reference model and task the graph is, in ``metadata_props``."""
    props = {prop.key: prop.value for prop in model.metadata_props}
    props.update({"harness.reference": reference.name, "harness.task": reference.task})
    del model.metadata_props[:]
    for key, value in sorted(props.items()):
        model.metadata_props.add(key=key, value=value)
    model.doc_string = reference.description


def _verify(
    module: nn.Module,
    data: bytes,
    reference: ReferenceModel,
    batch_size: int,
    sequence_length: int | None,
) -> None:
    """onnxruntime and torch must agree within ``VERIFY_ATOL`` on task samples."""
    import numpy as np
    import torch

    inputs = _example_inputs(reference, batch_size, sequence_length)
    session = create_session(data, SessionSettings())
    feeds = {spec.name: x for spec, x in zip(reference.inputs, inputs, strict=True)}
    onnx_outputs = session.run([spec.name for spec in reference.outputs], feeds)
    with torch.no_grad():
        torch_outputs = module(*(torch.from_numpy(x) for x in inputs))
    if isinstance(torch_outputs, torch.Tensor):
        torch_outputs = (torch_outputs,)
    for spec, got, want in zip(reference.outputs, onnx_outputs, torch_outputs, strict=True):
        want_array = want.numpy()
        if got.shape != want_array.shape:
            raise InternalError(
                f"ONNX export of '{reference.name}': output '{spec.name}' has shape "
                f"{got.shape} in onnxruntime, {want_array.shape} in torch, at batch {batch_size}"
            )
        diff = float(np.max(np.abs(got - want_array)))
        if not diff <= VERIFY_ATOL:
            raise InternalError(
                f"ONNX export of '{reference.name}': output '{spec.name}' differs from torch "
                f"by {diff:.3g} > {VERIFY_ATOL} at batch {batch_size}; the export is wrong"
            )


def _example_inputs(
    reference: ReferenceModel, batch_size: int, sequence_length: int | None = None
) -> list[np.ndarray]:
    """Real test samples of the model's task: ``batch_size`` of them, in input order.

    Task data, not random numbers: token ids must index the vocabulary, and a parity check
    on inputs the model was trained on is the one that matters. ``sequence_length`` cuts
    every input with a ``sequence`` axis to that length.
    """
    from harness.models.tasks import load_task

    batch = load_task(reference.task).test_batch(batch_size, start=_VERIFY_START)
    arrays = []
    for spec in reference.inputs:
        array = batch[spec.name]
        if sequence_length is not None and "sequence" in spec.shape:
            index = [slice(None)] * array.ndim
            index[spec.shape.index("sequence")] = slice(0, sequence_length)
            array = array[tuple(index)]
        arrays.append(array)
    return arrays


def _verify_sizes(reference: ReferenceModel) -> list[tuple[int, int | None]]:
    """(batch size, sequence length or None) pairs the export is checked at."""
    sizes: list[tuple[int, int | None]] = [(b, None) for b in VERIFY_BATCH_SIZES]
    sequence = [s for s in reference.inputs if "sequence" in s.shape]
    if sequence:
        full = _example_inputs(reference, 1)[reference.inputs.index(sequence[0])]
        length = full.shape[sequence[0].shape.index("sequence")]
        sizes.append((VERIFY_BATCH_SIZES[-1], max(1, length // 2)))
    return sizes


def _concrete_shape(spec: TensorSpec, size: int) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else size for d in spec.shape)


def _dynamic_axes(spec: TensorSpec) -> dict[int, str]:
    return {axis: d for axis, d in enumerate(spec.shape) if isinstance(d, str)}
