"""ONNX -> PyTorch twin: prepare, look for ops without a converter, convert, check parity.

    prepare ─▶ scan converters ─▶ onnx2torch.convert ─▶ eval() ─▶ parity with onnxruntime
                 │ none for an op      │ raises               │ differs
                 ▼                     ▼                      ▼
           Unconvertible         Unconvertible           Unconvertible
           "unconvertible"       "unconvertible"         "mismatch"

onnxruntime runs the parity sizes first (``parity.reference_runs``), so preparation's own
onnxruntime passes see only sizes it can run. The scan resolves each node's converter the
way onnx2torch does (the node's domain's opset, down to the op schema's ``since_version``),
so a missing converter is named, with the first node that needs it, before anything is
converted.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import onnx
import torch
from torch import nn

from harness.core.errors import InputResolutionError, first_line
from harness.core.model import LoadedModel
from harness.core.onnx_graph import is_default_domain, producers
from harness.core.twin import ConversionReport, PreparationStep
from harness.twin import TorchTwin, Unconvertible
from harness.twin.parity import (
    ReferenceRuns,
    check_parity,
    input_sets,
    reference_runner,
    reference_runs,
)
from harness.twin.prepare import prepare

__all__ = ["OpUse", "convert_model", "harness_converters", "resolve_ops"]

log = logging.getLogger(__name__)

_GRADIENTS = "gradient methods need one"


def convert_model(
    model: LoadedModel,
    inputs: dict[str, np.ndarray],
    *,
    rtol: float,
    atol: float,
    constants: tuple[str, ...] = (),
) -> TorchTwin | Unconvertible:
    report = functools.partial(ConversionReport, rtol=rtol, atol=atol)
    if model.format != "onnx" or model.onnx_proto is None:
        why = f"{model.name} is a PyTorch module, not an ONNX graph: it is its own twin"
        return Unconvertible(report(status="skipped", reason=why))
    feeds = _feeds(model, inputs)
    try:
        return _convert(model, feeds, report, constants)
    except Exception as exc:  # a bug here must not crash an audit: say so, and go on
        log.exception("building the twin of %s failed", model.name)
        why = f"the twin could not be built ({type(exc).__name__}: {first_line(exc)})"
        return Unconvertible(report(status="unconvertible", reason=why))


def _convert(
    model: LoadedModel, feeds: dict[str, np.ndarray], report: Any, constants: tuple[str, ...]
) -> TorchTwin | Unconvertible:
    from harness.twin.converters import register_all

    register_all()
    # onnxruntime first: preparation's own onnxruntime passes then see only the sizes it
    # can run (one it cannot would cost them every size).
    runs = reference_runs(lambda: reference_runner(model), input_sets(model.inputs, feeds))
    # Parity still feeds the fixed inputs to onnxruntime (the same values); the twin, which
    # holds them as initializers, takes the rest (forward_numpy ignores the extra names).
    proto, steps = prepare(model.onnx_proto, runs.sets, {n: feeds[n] for n in constants})
    uses = resolve_ops(proto)
    custom = tuple(sorted({u.label for u in uses if u.key in harness_converters()}))
    report = functools.partial(report, steps=steps, custom_converters=custom)
    blocked = _blocked(uses)
    if blocked is not None:
        return Unconvertible(report(**blocked))
    converted = _onnx2torch(proto)
    if not isinstance(converted, nn.Module):
        return Unconvertible(report(**converted))
    twin = _twin(model, proto, converted, report(status="converted", reason=None))
    return _checked(model, twin, runs, report)


def _checked(
    model: LoadedModel, twin: TorchTwin, runs: ReferenceRuns, report: Any
) -> TorchTwin | Unconvertible:
    """The twin with its parity checks in its report, or the reason it is refused."""
    rtol, atol = twin.report.rtol, twin.report.atol
    if runs.failure is not None:
        why = (
            f"onnxruntime cannot run {model.name} on the audit inputs, so the twin cannot be "
            f"checked: {runs.failure}"
        )
        return Unconvertible(report(status="unconvertible", reason=why))
    outcome = check_parity(runs, twin.forward_numpy, rtol, atol)
    if outcome.failure is not None:
        return Unconvertible(
            report(status="mismatch", reason=outcome.failure, parity=outcome.checks)
        )
    final = report(status="converted", reason=outcome.note, parity=outcome.checks)
    log.info(
        "twin of %s matches onnxruntime at %d input sizes; %s",
        model.name,
        len(outcome.checks),
        _steps_text(final.steps) or "no preparation",
    )
    return dataclasses.replace(twin, report=final)


def _feeds(model: LoadedModel, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [spec.name for spec in model.inputs if spec.name not in inputs]
    if missing:
        raise InputResolutionError(
            f"to_torch needs a value for every input of {model.name}; missing "
            f"{', '.join(missing)} (got {', '.join(inputs) or 'none'}): pass the audit inputs"
        )
    return {spec.name: np.ascontiguousarray(inputs[spec.name]) for spec in model.inputs}


# ------------------------------------------------------------------- converter lookup


class OpUse(NamedTuple):
    """One node and the registry key onnx2torch will look its converter up by."""

    node: str  # the node's name, or ``op_type#index``
    label: str  # "LSTM-14", "com.example.MysteryOp-1"
    key: tuple[str, str, int] | None  # (domain, op_type, version); None: domain not imported


def resolve_ops(proto: onnx.ModelProto) -> list[OpUse]:
    """The registry key of every main-graph node, resolved as onnx2torch's ``get_converter``
    does: the opset its domain imports, lowered to the op schema's ``since_version``."""
    opsets = {o.domain: int(o.version) for o in proto.opset_import}
    return [
        _op_use(node, index, opsets.get(node.domain)) for index, node in enumerate(proto.graph.node)
    ]


def _op_use(node: onnx.NodeProto, index: int, version: int | None) -> OpUse:
    name = node.name or f"{node.op_type}#{index}"
    prefix = "" if is_default_domain(node.domain) else f"{node.domain}."
    if version is None:
        return OpUse(name, f"{prefix}{node.op_type}-?", None)
    try:
        schema = onnx.defs.get_schema(
            node.op_type, domain=node.domain, max_inclusive_version=version
        )
        version = int(schema.since_version)
    except (RuntimeError, onnx.defs.SchemaError):
        pass  # no schema (a custom domain): onnx2torch looks the opset version up as it is
    return OpUse(name, f"{prefix}{node.op_type}-{version}", (node.domain, node.op_type, version))


def _registry() -> dict[Any, Any]:
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY

    return _CONVERTER_REGISTRY


@functools.cache
def harness_converters() -> frozenset[tuple[str, str, int]]:
    """Registry keys the harness's converter modules registered: those their registration
    helper recorded (``HARNESS_ADDED``, which includes onnx2torch converters reused for a
    newer op version), and any whose function lives under ``harness.twin.converters``."""
    from harness.twin.converters import register_all

    register_all()
    try:
        from harness.twin.converters._registry import HARNESS_ADDED
    except ImportError:
        HARNESS_ADDED = {}
    by_module = {
        (key.domain, key.operation_type, key.version)
        for key, converter in _registry().items()
        if getattr(converter, "__module__", "").startswith("harness.twin.converters")
    }
    added = {(str(d), str(op), int(v)) for d, op, v in HARNESS_ADDED}
    return frozenset(by_module | added)


def _blocked(uses: list[OpUse]) -> dict[str, Any] | None:
    registry = {tuple(key) for key in _registry()}
    missing = [u for u in uses if u.key is None or u.key not in registry]
    if not missing:
        return None
    labels = tuple(sorted({u.label for u in missing}))
    first = missing[0]
    why = (
        f"onnx2torch has no converter for {', '.join(labels)} "
        f"(first at node '{first.node}'); {_GRADIENTS}"
    )
    return dict(
        status="unconvertible", reason=why, blocking_ops=labels, first_blocking_node=first.node
    )


# ------------------------------------------------------------------------ conversion


def _onnx2torch(proto: onnx.ModelProto) -> nn.Module | dict[str, Any]:
    """The converted GraphModule, or the report fields that say why there is none."""
    from onnx2torch import convert

    try:
        return convert(proto)
    except Exception as exc:
        why = f"{type(exc).__name__}: {first_line(exc)}"
        node = _failing_node(exc)
        key = None if node is None else _node_key(proto, node)
        use = next((u for u in resolve_ops(proto) if u.node == key), None)
        if use is None:
            return dict(status="unconvertible", reason=f"onnx2torch fails: {why}")
        reason = f"onnx2torch cannot convert node '{use.node}' ({use.label}): {why}"
        return dict(
            status="unconvertible",
            reason=reason,
            blocking_ops=(use.label,),
            first_blocking_node=use.node,
        )


def _failing_node(exc: BaseException) -> onnx.NodeProto | None:
    """The ONNX node onnx2torch's ``convert`` was converting when ``exc`` was raised, read
    from its frame in the traceback (only while inside its per-node loop)."""
    from onnx2torch import converter

    first, last = _node_loop_lines()
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is converter.convert.__code__ and first <= tb.tb_lineno < last:
            node = tb.tb_frame.f_locals.get("onnx_node")
            return getattr(node, "proto", None)
        tb = tb.tb_next
    return None


@functools.cache
def _node_loop_lines() -> tuple[int, int]:
    """The line span of ``convert``'s loop over nodes; (0, 0) if its source is unreadable."""
    from onnx2torch import converter

    try:
        lines, start = inspect.getsourcelines(converter.convert)
    except (OSError, TypeError):
        return 0, 0
    loop = next((i for i, t in enumerate(lines) if "in onnx_graph.nodes.items()" in t), None)
    end = next((i for i, t in enumerate(lines) if "# Create output nodes" in t), None)
    if loop is None or end is None:
        return 0, 0
    return start + loop, start + end


def _node_key(proto: onnx.ModelProto, wanted: onnx.NodeProto) -> str | None:
    """``wanted``'s key in ``proto`` (onnx2torch converts a shape-inferred copy of it)."""
    for index, node in enumerate(proto.graph.node):
        if list(node.output) == list(wanted.output):
            return node.name or f"{node.op_type}#{index}"
    return None


class _TwinModule(nn.Module):
    """onnx2torch's GraphModule, its outputs always a tuple in graph output order.

    onnx2torch returns one value per distinct output *node* (a lone tensor when there is
    one); a node with several outputs gives a tuple. ``layout`` maps each graph output to
    (slot in that return, index inside a multi-output node's tuple or None).
    """

    def __init__(self, converted: nn.Module, layout: tuple[tuple[int, int | None], ...]) -> None:
        super().__init__()
        self.converted = converted
        self.layout = layout
        self.single = len({slot for slot, _ in layout}) == 1

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raw = self.converted(*inputs)
        values = (raw,) if self.single else raw
        return tuple(values[s] if i is None else values[s][i] for s, i in self.layout)


def _twin(
    model: LoadedModel, proto: onnx.ModelProto, converted: nn.Module, report: ConversionReport
) -> TorchTwin:
    module = _TwinModule(converted, _output_layout(proto.graph)).eval()
    module.requires_grad_(False)
    initializers = {t.name for t in proto.graph.initializer}
    input_names = tuple(i.name for i in proto.graph.input if i.name not in initializers)
    output_names = tuple(o.name for o in model.onnx_proto.graph.output)
    node_modules = dict(_node_modules(proto.graph))
    return TorchTwin(
        module, input_names, output_names, report, node_modules, _skeleton(proto.graph)
    )


def _skeleton(graph: onnx.GraphProto) -> onnx.GraphProto:
    """``graph`` without its weights: every node, input, output and value_info, and each
    initializer's name, element type and dims with no data (a twin keeps this much, not a
    second copy of its parameters)."""
    skeleton = onnx.GraphProto(name=graph.name)
    skeleton.node.extend(graph.node)
    skeleton.input.extend(graph.input)
    skeleton.output.extend(graph.output)
    skeleton.value_info.extend(graph.value_info)
    skeleton.initializer.extend(
        onnx.TensorProto(name=t.name, data_type=t.data_type, dims=t.dims) for t in graph.initializer
    )
    return skeleton


def _output_layout(graph: onnx.GraphProto) -> tuple[tuple[int, int | None], ...]:
    writers = producers(graph)
    nodes = list(dict.fromkeys(id(writers[o.name]) for o in graph.output))
    layout = []
    for output in graph.output:
        node = writers[output.name]
        index = list(node.output).index(output.name) if len(node.output) > 1 else None
        layout.append((nodes.index(id(node)), index))
    return tuple(layout)


def _node_modules(graph: onnx.GraphProto) -> Iterator[tuple[str, str]]:
    """ONNX node key -> qualified submodule name, named as onnx2torch's ``OnnxGraph`` does."""
    from onnx2torch.onnx_graph import OnnxGraph

    counters: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        name = OnnxGraph.generate_node_name(node)
        count = counters.get(name, 0)
        counters[name] = count + 1
        unique = name + (f"_{count}" if count else "")
        yield node.name or f"{node.op_type}#{index}", f"converted.{unique}"


def _steps_text(steps: tuple[PreparationStep, ...]) -> str:
    return "; ".join(f"{s.name}: {s.detail}" for s in steps if s.changed)
