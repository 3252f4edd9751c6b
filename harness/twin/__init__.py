"""A PyTorch twin of an ONNX model, for the methods that need gradients.

    twin = to_torch(model, inputs)          # TorchTwin, or Unconvertible with the reason
    if isinstance(twin, TorchTwin):
        logits, = twin(torch.from_numpy(pixels))

The graph is prepared (``prepare``), converted with onnx2torch plus the harness's own
converters (``converters``), put in eval mode, and accepted only when its outputs match
onnxruntime's on the audit inputs (fitted to the graph's fixed dims) and, where dims are
dynamic, at a second input size both can run (``parity``). Every failure is an
``Unconvertible`` whose report names what blocked it; ``to_torch`` raises only for a
caller's mistake (inputs missing).

Importing this package imports neither torch nor onnx2torch; ``to_torch`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.core.twin import ConversionReport

if TYPE_CHECKING:
    import numpy as np
    import onnx
    import torch

    from harness.core.model import LoadedModel

__all__ = ["TorchTwin", "Unconvertible", "to_torch"]


@dataclass(frozen=True, eq=False)
class TorchTwin:
    """A converted module in eval mode whose outputs matched onnxruntime's.

    ``module(*tensors)`` takes the inputs positionally in ``input_names`` order and returns
    a tuple in ``output_names`` order. Its parameters do not require gradients (the twin
    is for gradients with respect to inputs and activations).
    """

    module: torch.nn.Module
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    report: ConversionReport
    # ONNX node name (``op_type#index`` for an unnamed node) -> the submodule's qualified
    # name in ``module``; nodes that preparation folded away have none.
    node_modules: Mapping[str, str] = field(default_factory=dict)
    # The graph it was converted from (after preparation), its initializers without their
    # data: what its node keys name, for finding a layer (an embedding, the last conv).
    graph: onnx.GraphProto | None = field(default=None, repr=False)

    def __call__(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.module(*tensors))

    def forward_numpy(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One no-grad forward pass on numpy inputs keyed by name."""
        import numpy as np
        import torch

        tensors = [torch.from_numpy(np.ascontiguousarray(arrays[n])) for n in self.input_names]
        with torch.no_grad():
            values = self(*tensors)
        return {
            name: value.detach().cpu().numpy()
            for name, value in zip(self.output_names, values, strict=True)
        }

    def node_module(self, node_name: str) -> torch.nn.Module:
        """The submodule onnx2torch made for the ONNX node ``node_name`` (hook it, or hand it
        to a layer attribution method)."""
        if node_name not in self.node_modules:
            raise KeyError(
                f"no submodule for ONNX node '{node_name}'; nodes with one: "
                f"{', '.join(list(self.node_modules)[:8])}, ..."
            )
        # "converted.<name>": the name may hold dots (a custom domain), so no get_submodule.
        head, _, child = self.node_modules[node_name].partition(".")
        module: torch.nn.Module = getattr(self.module, head)._modules[child]
        return module


@dataclass(frozen=True)
class Unconvertible:
    """No trustworthy twin; ``report.reason`` says why (the blocking ops and first node, the
    converter's error, or the worst output's difference)."""

    report: ConversionReport


def to_torch(
    model: LoadedModel,
    inputs: dict[str, np.ndarray],
    *,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    constants: Sequence[str] = (),
) -> TorchTwin | Unconvertible:
    """The model's PyTorch twin, checked against onnxruntime on ``inputs`` (the audit
    inputs, keyed by input name, fitted to the graph's fixed dims) and at a second size
    where dims are dynamic (one neither can run is dropped with a note in the report).

    ``constants`` names inputs whose value in ``inputs`` is the same in every call (fixed
    by ``--value``): the twin holds them as initializers (so an ``If`` on them folds), does
    not take them (``input_names`` leaves them out), and its report's ``fix_inputs`` step
    names them."""
    from harness.twin.convert import convert_model

    return convert_model(model, inputs, rtol=rtol, atol=atol, constants=tuple(constants))
