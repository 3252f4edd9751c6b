"""The forwards attributions run on, as ``f(attributed, *others) -> scores``.

    torch        a PyTorch model's own module (every method)
    onnxruntime  an ONNX file's session (perturbation methods, and every metric); tensors
                 -> numpy -> ``session.run`` -> tensor, chunked to a fixed batch size
    twin         the ONNX file's PyTorch twin (gradient and layer methods), used only when
                 its outputs matched onnxruntime's; run N rows at a time when the graph
                 fixes its batch at N (fixed_batch.py)

Each forward returns the model's first output: (batch, outputs) scores, flattened to two
axes, or the raw output when it has the attributed input's shape (an autoencoder's
reconstruction, whose error the target then attributes). Inputs without a sample axis (a
scalar, a state) are bound inside the forward. Each backend also names the layer the layer
methods use (the embedding for token ids, found by embedding.py on a twin; the last
convolution for images) and the cascade the randomisation test walks (cascades.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from harness.core.sessions import SessionSettings, create_session
from harness.core.twin import ConversionReport
from harness.explainers.methods.base import MethodNotApplicableError
from harness.stages.context import AuditContext
from harness.stages.explanations.cascades import (
    graph_cascade,
    graph_layer_count,
    module_layer_count,
    onnx_layer_count,
)
from harness.stages.explanations.embedding import embedding_nodes, node_key
from harness.stages.explanations.fixed_batch import chunked_call, one_pass_method
from harness.stages.explanations.plan import Samples, Subject, spread_inputs

__all__ = [
    "Backend",
    "Backends",
    "ModuleForward",
    "SessionForward",
    "build_backends",
]

BackendName = Literal["torch", "twin", "onnxruntime"]


@dataclass(frozen=True, eq=False)
class Backend:
    """One way to run the model: the forward, the layer for layer methods, and how to walk
    its randomisation cascade (``cascade(seed)`` yields (layer, state); ``rebuild(state)``
    gives the forward of a randomised state)."""

    name: BackendName
    forward: Callable[..., torch.Tensor]
    layer: nn.Module | None
    cascade: Callable[[int], Iterator[tuple[str, Any]]]
    rebuild: Callable[[Any], Callable[..., torch.Tensor]]
    layers_total: int
    state: Any  # the unrandomised state handed to ``rebuild``

    @property
    def is_module(self) -> bool:
        return isinstance(self.forward, nn.Module)


def scores(output: torch.Tensor, attributed: torch.Tensor) -> torch.Tensor:
    """(batch, outputs): a 1-D output gains an axis, higher ranks are flattened, and an
    output shaped like a float attributed input (a reconstruction) is kept as it is."""
    if attributed.is_floating_point() and output.shape == attributed.shape:
        return output
    if output.dim() == 1:
        return output[:, None]
    return output.reshape(output.shape[0], -1) if output.dim() > 2 else output


def _first_output(raw: Any) -> torch.Tensor:
    if isinstance(raw, dict):
        raw = next(iter(raw.values()))
    elif isinstance(raw, tuple | list):
        raw = raw[0]
    if not isinstance(raw, torch.Tensor):
        raise TypeError(f"the model returned {type(raw).__name__} where a tensor was expected")
    return raw


class ModuleForward(nn.Module):
    """A torch module (the model, or the twin) as ``f(attributed, *others)``; the inputs
    go to the module's device and the scores come back to the CPU. A twin whose graph fixes
    the batch at ``fixed_rows`` is run that many rows at a time, ``layer`` once per call
    (fixed_batch.py)."""

    def __init__(
        self,
        module: nn.Module,
        order: tuple[str, ...],
        subject: Subject,
        fixed: dict[str, torch.Tensor],
        *,
        by_name: bool,
        fixed_rows: int | None = None,
        layer: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.model = module
        self.order = order
        self.names = (subject.attributed, *subject.others)
        self.fixed = fixed
        self.spread = subject.spread
        self.by_name = by_name
        self.fixed_rows = fixed_rows
        # In a list: a layer registered as a submodule here would be walked twice by the
        # cascades and by Captum's hook registration.
        self.hooked_layer = [layer]
        parameter = next(module.parameters(), None)
        buffer = next(module.buffers(), None)
        held = parameter if parameter is not None else buffer
        self.device = held.device if held is not None else torch.device("cpu")

    def forward(self, attributed: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
        given = {**self.fixed, **dict(zip(self.names, (attributed, *others), strict=True))}
        rows = int(attributed.shape[0])
        spread_inputs(given, self.spread, rows)
        tensors = [given[name].to(self.device) for name in self.order]
        if self.fixed_rows is not None and rows != self.fixed_rows:
            method = one_pass_method(self.model)
            if method is not None:
                raise MethodNotApplicableError(
                    f"{method} compares each input with its baseline inside one forward pass "
                    f"of both, and this model's graph fixes its batch at {self.fixed_rows} "
                    f"(a pass of {rows} rows would have to be split)"
                )
            batched = [name in self.names for name in self.order]
            layer = self.hooked_layer[0]
            raw = chunked_call(self.model, tensors, batched, self.fixed_rows, layer, _first_output)
            return scores(raw.cpu(), attributed)
        if self.by_name:
            raw = self.model(**dict(zip(self.order, tensors, strict=True)))
        else:
            raw = self.model(*tensors)
        return scores(_first_output(raw).cpu(), attributed)


class SessionForward:
    """An onnxruntime session as ``f(attributed, *others)``: no gradients; rows are run in
    chunks of the graph's fixed batch size when it has one (the last chunk padded)."""

    def __init__(
        self,
        session: Any,
        subject: Subject,
        fixed: dict[str, np.ndarray],
        dtypes: dict[str, np.dtype],
        fixed_batch: int | None,
    ) -> None:
        self.session = session
        self.names = (subject.attributed, *subject.others)
        self.fixed = fixed
        self.spread = subject.spread
        self.dtypes = dtypes
        self.fixed_batch = fixed_batch
        self.output = session.get_outputs()[0].name

    def __call__(self, attributed: torch.Tensor, *others: Any) -> torch.Tensor:
        arrays = {
            name: _numpy(value, self.dtypes[name])
            for name, value in zip(self.names, (attributed, *others), strict=True)
        }
        rows = arrays[self.names[0]].shape[0]
        step = self.fixed_batch or rows
        outputs = [self._run(arrays, start, step, rows) for start in range(0, rows, step)]
        # Each chunk's rows already; no cut on axis 0, which is time in a time-major output.
        output = torch.from_numpy(np.concatenate(outputs))
        return scores(output, attributed)

    def _run(self, arrays: dict[str, np.ndarray], start: int, step: int, rows: int) -> np.ndarray:
        chunk = {name: a[start : start + step] for name, a in arrays.items()}
        short = step - (min(start + step, rows) - start)
        if short:  # pad a fixed-size last chunk by repeating its last row
            chunk = {n: np.concatenate([a, np.repeat(a[-1:], short, 0)]) for n, a in chunk.items()}
        feed = {**chunk, **self.fixed}
        spread_inputs(feed, self.spread, step)
        value: np.ndarray = self.session.run([self.output], feed)[0]
        return value[: step - short] if short else value


def _numpy(value: Any, dtype: np.dtype) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(value).astype(dtype, copy=False))


# --- layers -------------------------------------------------------------------------------


def module_layer(module: nn.Module, modality: str, vocabulary: int | None) -> nn.Module | None:
    """A PyTorch model's embedding (token ids: the first nn.Embedding large enough for the
    ids) or last nn.Conv2d (images); None otherwise."""
    if modality == "tokens":
        for m in module.modules():
            if isinstance(m, nn.Embedding) and (
                vocabulary is None or m.num_embeddings >= vocabulary
            ):
                return m
        return None
    if modality == "image":
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        return convs[-1] if convs else None
    return None


def twin_layer(twin: Any, proto: Any, modality: str, attributed: str) -> nn.Module | None:
    """The twin's module for the embedding of token ids (embedding.py: a Gather on a table,
    or a one-hot times a table) or for the last Conv of an image model; None when there is
    none. The search runs on the graph the twin was converted from (``twin.graph``), else
    on ``proto``'s."""
    own = getattr(twin, "graph", None)
    graph = own if own is not None else proto.graph
    nodes: Iterable[tuple[int, Any]]
    if modality == "tokens":
        nodes = embedding_nodes(graph, attributed)
    elif modality == "image":
        nodes = reversed([(i, n) for i, n in enumerate(graph.node) if n.op_type == "Conv"])
    else:
        return None
    for index, node in nodes:
        try:
            module: nn.Module = twin.node_module(node_key(node, index))
        except KeyError:
            continue
        # On the original graph an unnamed node's key may have moved in preparation.
        if own is not None or node.op_type.lower() in type(module).__name__.lower():
            return module
    return None


# --- building -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Backends:
    """``reference`` runs every perturbation method and every metric (the model itself:
    its module, or its onnxruntime session); ``gradients`` runs the gradient methods (the
    module, or the ONNX file's twin), None with ``no_gradients`` saying why."""

    reference: Backend
    gradients: Backend | None
    no_gradients: str
    conversion: ConversionReport | None


def build_backends(
    context: AuditContext, subject: Subject, samples: Samples, *, gradients: bool = True
) -> Backends:
    """The backends; an ONNX file's twin only when ``gradients`` (a chosen method needs
    them): converting a large graph takes seconds."""
    model = context.model
    fixed = {n: a for n, a in samples.arrays.items() if n not in samples.batched}
    vocabulary = _vocabulary(context, subject, samples)
    if model.format != "onnx":
        torch_fixed = {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in fixed.items()}
        order = tuple(s.name for s in model.inputs)
        forward = ModuleForward(model.module, order, subject, torch_fixed, by_name=True)
        backend = _module_backend("torch", model.module, forward, subject, vocabulary)
        return Backends(backend, backend, "", None)
    reference = _session_backend(context, subject, fixed)
    if not gradients:
        return Backends(reference, None, "no chosen method needs gradients", None)
    from harness.twin import TorchTwin, to_torch

    # The twin is checked on the samples as the stage feeds them: spread inputs at its rows.
    checked = dict(samples.arrays)
    spread_inputs(checked, subject.spread, samples.count)
    # Inputs fixed by --value are constants for the whole audit: the twin folds them in.
    constants = [t.name for t in context.inputs.tensors if t.source == "value"]
    twin = to_torch(model, checked, constants=constants)
    if not isinstance(twin, TorchTwin):
        why = f"the ONNX model has no PyTorch twin ({twin.report.reason})"
        return Backends(reference, None, why, twin.report)
    torch_fixed = {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in fixed.items()}
    layer = twin_layer(twin, model.onnx_proto, subject.modality, subject.attributed)
    forward = ModuleForward(
        twin.module,
        twin.input_names,
        subject,
        torch_fixed,
        by_name=False,
        fixed_rows=_fixed_batch(model, subject),
        layer=layer,
    )
    graph = getattr(twin.module, "converted", twin.module)
    labels = {v.removeprefix("converted."): k for k, v in twin.node_modules.items()}
    backend = Backend(
        name="twin",
        forward=forward,
        layer=layer,
        cascade=lambda seed: graph_cascade(graph, labels, seed=seed),
        rebuild=lambda state: forward,
        layers_total=graph_layer_count(graph),
        state=graph,
    )
    return Backends(reference, backend, "", twin.report)


def _module_backend(
    name: BackendName,
    module: nn.Module,
    forward: ModuleForward,
    subject: Subject,
    vocabulary: int | None,
) -> Backend:
    from harness.explainers.metrics import torch_cascade

    return Backend(
        name=name,
        forward=forward,
        layer=module_layer(module, subject.modality, vocabulary),
        cascade=lambda seed: torch_cascade(module, seed=seed),
        rebuild=lambda state: forward,  # the cascade randomises the module in place
        layers_total=module_layer_count(module),
        state=module,
    )


def _session_backend(
    context: AuditContext, subject: Subject, fixed: dict[str, np.ndarray]
) -> Backend:
    from harness.explainers.metrics import onnx_cascade
    from harness.runtime.forward import create_onnx_session

    model, threads = context.model, context.config.threads
    # The randomised copies the cascade rebuilds run as the original does.
    settings = SessionSettings(device=context.device, intra_op_threads=threads)
    dtypes = {s.name: np.dtype(s.dtype) for s in model.inputs}
    fixed_batch = _fixed_batch(model, subject)

    def forward_of(session: Any) -> SessionForward:
        return SessionForward(session, subject, fixed, dtypes, fixed_batch)

    forward = forward_of(create_onnx_session(model, context.device, threads))
    return Backend(
        name="onnxruntime",
        forward=forward,
        layer=None,
        cascade=lambda seed: onnx_cascade(model.onnx_proto, seed=seed),
        rebuild=lambda proto: forward_of(create_session(proto, settings)),
        layers_total=onnx_layer_count(model.onnx_proto),
        state=None,
    )


def _fixed_batch(model: Any, subject: Subject) -> int | None:
    """The batch the graph fixes for the attributed input, or None where it is dynamic."""
    first = model.input(subject.attributed).shape[:1]
    return first[0] if first and isinstance(first[0], int) else None


def _vocabulary(context: AuditContext, subject: Subject, samples: Samples) -> int | None:
    """Rows the embedding must have: the input's declared index range, else max id + 1."""
    if subject.modality != "tokens":
        return None
    spec = context.model.input(subject.attributed)
    if spec.index_range is not None:
        return spec.index_range
    return int(samples.arrays[subject.attributed].max()) + 1
