"""If whose condition is constant (an initializer or a Constant): the taken branch, inlined.

The branch graph becomes a model of its own: the outer-scope values it reads become its
inputs (in order of first use), its outputs pass through Identity (so a branch output that
is an outer value, or one output of a multi-output node, comes out as itself), and it is
converted with ``onnx2torch.convert`` at the outer model's opset, which this package's
converters see through the registry too. The If node then maps the outer values to that
submodule. A condition computed from the data raises NotImplementedError: the twin would
otherwise freeze one branch for every input.

The outer model's opset is not passed to converters; it is read from the enclosing
``onnx2torch.converter.convert`` call's ``opset_import``. Where that is not found (a future
onnx2torch), the If node's own since-version is used when every op in the branch resolves
to the same converter at every opset that If version covers; otherwise the node is refused.
"""

from __future__ import annotations

import inspect
from typing import Any

import onnx
import torch
from onnx import GraphProto, defs, helper
from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value
from torch import nn

from harness.core.onnx_graph import subgraphs, walk_nodes
from harness.twin.converters._registry import register_missing

__all__ = ["ConstantIf"]

_VERSIONS = (1, 11, 13, 16, 19, 21, 23, 24, 25)  # 11+ relax shapes, 13+ add sequence/optional


class ConstantIf(nn.Module):
    """The branch an If takes for every input; ``branch`` takes the outer values it reads."""

    def __init__(self, branch: nn.Module, taken: str) -> None:
        super().__init__()
        self.branch = branch
        self.taken = taken

    def forward(self, *outer: torch.Tensor) -> Any:
        return self.branch(*outer)


def _outer_names(branch: GraphProto) -> list[str]:
    """Values the branch (and graphs nested in it) reads but does not define."""
    defined = {i.name for i in branch.initializer} | {i.name for i in branch.input}
    used: list[str] = []
    for node in walk_nodes(branch):
        defined.update(node.output)
        for sub in subgraphs(node):
            defined.update(i.name for i in sub.initializer)
            defined.update(i.name for i in sub.input)
        used.extend(node.input)
    used.extend(o.name for o in branch.output)
    return [n for n in dict.fromkeys(used) if n and n not in defined]


def _value_info(name: str, graph: Any) -> onnx.ValueInfoProto:
    if name in graph.value_info:
        info: onnx.ValueInfoProto = graph.value_info[name]
        return info
    if name in graph.initializers:
        tensor = graph.initializers[name].proto
        return helper.make_tensor_value_info(name, tensor.data_type, list(tensor.dims))
    value = onnx.ValueInfoProto()
    value.name = name  # type unknown: shape inference leaves it open
    return value


def _model_opsets() -> dict[str, int] | None:
    from onnx2torch import converter

    code = converter.convert.__code__
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code is code:
                opsets = frame.f_locals.get("opset_import")
                return dict(opsets) if isinstance(opsets, dict) else None
            frame = frame.f_back
    finally:
        del frame
    return None


def _since(op_type: str, version: int, domain: str) -> int | None:
    try:
        return int(defs.get_schema(op_type, version, domain).since_version)
    except defs.SchemaError:
        return None


def _fallback_opset(node: Any, branch: GraphProto, if_since: int) -> int:
    """``if_since`` when every op in the branch resolves to the same since-version at each
    opset that If-``if_since`` covers (so the exact opset cannot matter)."""
    later = [v for v in _VERSIONS if v > if_since]
    upper = later[0] if later else defs.onnx_opset_version() + 1
    for inner in walk_nodes(branch):
        resolved = {_since(inner.op_type, v, inner.domain) for v in range(if_since, upper)}
        if len(resolved) > 1:
            raise NotImplementedError(
                f"If node {node.name!r}: the model's opset is not visible to the converter, "
                f"and {inner.op_type} in the branch differs across opsets {if_since}-{upper - 1}"
            )
    return if_since


def _branch_model(
    node: Any, graph: Any, branch: GraphProto, outer: list[str], if_since: int
) -> onnx.ModelProto:
    nodes = list(branch.node)
    outputs = []
    for i, out in enumerate(branch.output):
        alias = f"{out.name}__if_out_{i}"
        nodes.append(helper.make_node("Identity", [out.name], [alias]))
        info = onnx.ValueInfoProto()
        info.CopyFrom(out)
        info.name = alias
        outputs.append(info)
    sub = helper.make_graph(
        nodes,
        f"{branch.name or 'branch'}_of_{node.name or 'If'}",
        [_value_info(name, graph) for name in outer],
        outputs,
        initializer=list(branch.initializer),
        value_info=list(branch.value_info),
    )
    opsets = _model_opsets()
    if opsets is None:
        opsets = {"": _fallback_opset(node, branch, if_since)}
    imports = [helper.make_opsetid(domain, version) for domain, version in opsets.items()]
    return helper.make_model(sub, opset_imports=imports)


def _condition(node: Any, graph: Any) -> bool:
    name = node.input_values[0]
    try:
        value = torch.as_tensor(get_const_value(name, graph))
    except KeyError as exc:
        raise NotImplementedError(
            f"If with a data-dependent condition (node {node.name!r}, condition {name!r} is "
            "computed from the inputs): a twin would freeze one branch for every input; fold "
            "the condition to a constant first, or leave gradient methods off for this model"
        ) from exc
    if value.numel() != 1:
        raise NotImplementedError(
            f"If node {node.name!r}: condition {name!r} has {value.numel()} elements; expected 1"
        )
    return bool(value.reshape(()).item())


def _converter(if_since: int) -> Any:
    def convert_if(node: Any, graph: Any) -> Any:
        from onnx2torch import convert

        taken = "then_branch" if _condition(node, graph) else "else_branch"
        branch = next(a.g for a in node.proto.attribute if a.name == taken)
        outer = _outer_names(branch)
        submodule = convert(_branch_model(node, graph, branch, outer, if_since))
        return OperationConverterResult(
            torch_module=ConstantIf(submodule, taken),
            onnx_mapping=OnnxMapping(inputs=tuple(outer), outputs=node.output_values),
        )

    convert_if.__qualname__ = f"convert_if_{if_since}"
    return convert_if


for _since_version in _VERSIONS:
    register_missing("If", (_since_version,))(_converter(_since_version))
