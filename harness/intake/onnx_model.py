"""Load an ``.onnx`` file into a ``LoadedModel``: checked, summarised, nothing executed.

Order matters: every string in the file must be UTF-8 before any is used as a name;
external-data locations are vetted before any data is read, so a model cannot make the
harness open files outside its own folder; the full checker (which also runs strict shape
inference) runs before anything trusts the graph. Inputs and outputs of more than
``MAX_RANK`` dims are refused here; sizes (a dim of 10**7, or a negative one) are judged by
input resolution, which knows --shape and the input limit.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx

from harness.core.errors import ModelLoadError, UnsupportedModelError, first_line, shorten
from harness.core.model import MAX_RANK, Dim, LoadedModel, TensorSpec
from harness.core.onnx_graph import (
    attribute,
    consumers,
    is_op,
    op_name,
    pass_through_aliases,
    tensor_bytes,
    tensor_elements,
    walk_nodes,
)
from harness.core.result import ModelSummary

__all__ = ["external_tensors", "load_onnx", "summarize_onnx", "weight_tensors"]

log = logging.getLogger(__name__)

# Ops that hand their first input through with the same values (dtype or layout may
# change); token ids still index the same table on the far side of them.
_PASS_THROUGH_OPS = {"Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity"}


def load_onnx(source: str) -> LoadedModel:
    path = Path(source)
    proto = _read_proto(path)
    _check_strings(proto, path)
    _check_external_data_locations(proto, path)
    _run_checker(path)
    _load_external_data(proto, path)
    initializers = {t.name for t in proto.graph.initializer}
    index_ranges = _index_ranges(proto)
    inputs = tuple(
        _tensor_spec(vi, index_ranges.get(vi.name))
        for vi in proto.graph.input
        if vi.name not in initializers  # IR < 4 lists initializers among the inputs
    )
    outputs = tuple(_tensor_spec(vi, None) for vi in proto.graph.output)
    return LoadedModel(
        source=source,
        name=path.stem,
        format="onnx",
        inputs=inputs,
        outputs=outputs,
        path=path,
        task=_metadata(proto).get("harness.task"),
        onnx_proto=proto,
    )


def summarize_onnx(model: LoadedModel) -> ModelSummary:
    proto = model.onnx_proto
    path = model.path
    assert proto is not None and path is not None  # load_onnx sets both
    param_count, param_bytes = _parameter_totals(proto)
    histogram = Counter(op_name(node) for node in walk_nodes(proto.graph))
    producer = f"{proto.producer_name} {proto.producer_version}".strip()
    return ModelSummary(
        source=model.source,
        name=model.name,
        format="onnx",
        path=str(path),
        file_bytes=path.stat().st_size + _external_data_bytes(proto, path),
        sha256=_sha256(path),
        ir_version=proto.ir_version,
        opsets={(imp.domain or "ai.onnx"): imp.version for imp in proto.opset_import},
        producer=producer or None,
        metadata=_metadata(proto),
        inputs=model.inputs,
        outputs=model.outputs,
        parameter_count=param_count,
        parameter_bytes=param_bytes,
        node_count=sum(histogram.values()),
        op_histogram=dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _metadata(proto: onnx.ModelProto) -> dict[str, str]:
    return {prop.key: prop.value for prop in proto.metadata_props}


def _read_proto(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise ModelLoadError(f"model file '{path}' does not exist; check the path")
    if not path.is_file():
        raise ModelLoadError(f"model path '{path}' is not a file; pass the .onnx file itself")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning, ValueError, ...
        raise ModelLoadError(
            f"'{path}' is not a readable ONNX file ({type(exc).__name__}: {first_line(exc)}); "
            "it may be truncated or not a model: re-export or re-download it"
        ) from exc
    if not proto.HasField("graph") or proto.ir_version == 0:
        raise ModelLoadError(
            f"'{path}' is not an ONNX model (no graph or IR version in it); "
            "check that the file is the exported model"
        )
    return proto


def _check_strings(proto: onnx.ModelProto, path: Path) -> None:
    """Every string field of the model must be UTF-8. protobuf hands an invalid one back as
    ``bytes``, which then fails wherever a name is hashed, joined or rendered."""
    found = _undecodable_string(proto, "model")
    if found is not None:
        where, raw = found
        raise ModelLoadError(
            f"'{path}' holds a string that is not valid UTF-8 ({where} = {shorten(repr(raw))}); "
            "ONNX strings must be UTF-8: fix the exporter's names and re-export the model"
        )


def _undecodable_string(message: Any, where: str) -> tuple[str, bytes] | None:
    """(field path, raw bytes) of the first string field of ``message`` (nested messages
    included) that is not UTF-8, or None. protobuf bounds the nesting (100 levels)."""
    for field, value in message.ListFields():
        repeated = _is_repeated(field)
        items = list(value) if repeated else [value]
        for index, item in enumerate(items):
            place = f"{where}.{field.name}" + (f"[{index}]" if repeated else "")
            if field.type == field.TYPE_MESSAGE:
                found = _undecodable_string(item, place)
                if found is not None:
                    return found
            elif field.type == field.TYPE_STRING and isinstance(item, bytes):
                return place, item
    return None


def _is_repeated(field: Any) -> bool:
    # protobuf 5.29+ has is_repeated (and newer releases drop label); older ones only label.
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)


def external_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """The tensors of ``proto`` (subgraphs included) whose data lives in external files."""
    for tensor in onnx.external_data_helper._get_all_tensors(proto):
        if onnx.external_data_helper.uses_external_data(tensor):
            yield tensor


def _external_location(tensor: onnx.TensorProto) -> str:
    entries = {e.key: e.value for e in tensor.external_data}
    return entries.get("location", "")


def _check_external_data_locations(proto: onnx.ModelProto, path: Path) -> None:
    """Allow external data only in files inside the model's own folder."""
    folder = path.parent.resolve()
    for tensor in external_tensors(proto):
        location = _external_location(tensor)
        if "\0" in location:  # no file system takes it; Path raises ValueError on it
            raise ModelLoadError(
                f"tensor '{shorten(tensor.name)}' stores its data at a location holding a NUL "
                f"character ({shorten(repr(location))}); name the data file beside the model "
                "without one and re-save the model"
            )
        try:
            target = (folder / location).resolve()
            escapes = Path(location).is_absolute() or not target.is_relative_to(folder)
            missing = not escapes and not target.is_file()
        except (OSError, ValueError) as exc:  # a name too long for the file system, ...
            raise ModelLoadError(
                f"tensor '{shorten(tensor.name)}' stores its data at '{shorten(location)}', "
                f"which cannot be looked up ({first_line(exc)}); keep the data file beside "
                "the model under a short plain name"
            ) from exc
        if not location or escapes:
            raise ModelLoadError(
                f"tensor '{tensor.name}' stores its data at '{location}', outside the model's "
                f"folder '{path.parent}'; external data must sit beside the model: "
                "move the data file there and re-save the model"
            )
        if missing:
            raise ModelLoadError(
                f"tensor '{tensor.name}' needs external data file '{location}', which is missing "
                f"from '{path.parent}'; copy it next to the model"
            )


def _run_checker(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelLoadError(
            f"'{path}' fails the ONNX checker: {first_line(exc)}; fix the exporter's output "
            "(onnx.checker.check_model(path, full_check=True) shows the same error)"
        ) from exc
    except Exception as exc:  # the checker surfaces custom-domain problems as other types
        raise UnsupportedModelError(
            f"'{path}' cannot be checked: {first_line(exc)}; "
            "the harness audits models the ONNX checker accepts"
        ) from exc


def _load_external_data(proto: onnx.ModelProto, path: Path) -> None:
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, str(path.parent))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot read the external data of '{path}': {first_line(exc)}; "
            "keep the data files beside the model"
        ) from exc


def _tensor_spec(value_info: onnx.ValueInfoProto, index_range: int | None) -> TensorSpec:
    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UnsupportedModelError(
            f"'{value_info.name}' is a {kind} value; the harness audits models whose inputs "
            "and outputs are tensors: wrap the model so it takes and returns tensors"
        )
    tensor_type = value_info.type.tensor_type
    if not tensor_type.HasField("shape"):
        raise UnsupportedModelError(
            f"'{value_info.name}' declares no shape (not even its rank); "
            "re-export the model with input and output shapes"
        )
    rank = len(tensor_type.shape.dim)
    if rank > MAX_RANK:
        raise UnsupportedModelError(
            f"'{shorten(value_info.name)}' declares {rank} dims; numpy and the runtimes hold "
            f"at most {MAX_RANK}, so the model cannot be fed or read: re-export it with fewer"
        )
    return TensorSpec(
        name=value_info.name,
        dtype=_dtype_name(tensor_type.elem_type),
        shape=tuple(_dim(d) for d in tensor_type.shape.dim),
        index_range=index_range,
    )


def _dim(dim: onnx.TensorShapeProto.Dimension) -> Dim:
    # Some exporters write dim_value -1 (or 0) for "any size": read as unnamed and dynamic,
    # so every later step (defaults, --shape, batching) treats it like a "?" dim.
    if dim.HasField("dim_value") and dim.dim_value >= 1:
        return int(dim.dim_value)
    if dim.HasField("dim_value"):
        return None
    if dim.HasField("dim_param") and dim.dim_param:
        return str(dim.dim_param)
    return None


def _dtype_name(elem_type: int) -> str:
    if elem_type == onnx.TensorProto.STRING:
        return "string"
    if elem_type == onnx.TensorProto.BFLOAT16:
        return "bfloat16"
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type).name)
    except (KeyError, ValueError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def _index_ranges(proto: onnx.ModelProto) -> dict[str, int]:
    """Input name -> rows of the table it indexes, for integer inputs that feed a Gather.

    Follows pass-through ops (Cast, Reshape, ...) so ``ids -> Cast -> Gather`` counts. Where
    an input indexes several tables, the smallest bounds it.
    """
    tables = _constant_shapes(proto)
    readers = consumers(proto.graph)
    ranges = {}
    for value_info in proto.graph.input:
        elem = value_info.type.tensor_type.elem_type
        if elem not in _INTEGER_TYPES:
            continue
        rows = _gathered_rows(proto.graph, value_info.name, readers, tables)
        if rows:
            ranges[value_info.name] = min(rows)
    return ranges


_INTEGER_TYPES = {
    onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32,
    onnx.TensorProto.INT64, onnx.TensorProto.UINT8, onnx.TensorProto.UINT16,
    onnx.TensorProto.UINT32, onnx.TensorProto.UINT64,
}  # fmt: skip


def _gathered_rows(
    graph: onnx.GraphProto,
    name: str,
    readers: dict[str, list[onnx.NodeProto]],
    tables: dict[str, tuple[int, ...]],
) -> list[int]:
    """Rows of each table that ``name``, or a pass-through copy of it, indexes."""
    rows: list[int] = []
    for tensor in sorted(pass_through_aliases(graph, name, _PASS_THROUGH_OPS)):
        for node in readers.get(tensor, []):
            if is_op(node, "Gather") and len(node.input) > 1 and node.input[1] == tensor:
                table = tables.get(node.input[0])
                axis = int(attribute(node, "axis", 0))
                if table and -len(table) <= axis < len(table):
                    rows.append(table[axis])
    return rows


def _constant_shapes(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    shapes = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if is_op(node, "Constant"):
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = tuple(attr.t.dims)
    return shapes


def _parameter_totals(proto: onnx.ModelProto) -> tuple[int, int]:
    """Parameters and their bytes (strings and exotic types count no bytes)."""
    tensors = list(weight_tensors(proto))
    return sum(map(tensor_elements, tensors)), sum(map(tensor_bytes, tensors))


# Exporters outside PyTorch often store weights as Constant nodes instead of initializers.
# A Constant's tensor counts as a weight when it is floating point and holds at least this
# many elements: scalars (an epsilon, a 0.5), Resize scales (4 or 5 values) and an RGB
# image's per-channel normalisation (3) stay out, and integer tensors (shape data, axes,
# indices) never count. value_float(s)/value_int(s) attributes are scalars and lists, not
# tensors: not weights either.
_MIN_CONSTANT_WEIGHT_ELEMENTS = 8
_FLOAT_TYPES = frozenset(
    getattr(onnx.TensorProto, name)
    for name in (
        "FLOAT", "FLOAT16", "DOUBLE", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT4E2M1",
    )
    if hasattr(onnx.TensorProto, name)  # the float8 and float4 types are recent
)  # fmt: skip


def weight_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """The model's weights: every initializer of the main graph, then every floating-point
    tensor of at least ``_MIN_CONSTANT_WEIGHT_ELEMENTS`` elements that a Constant node (of
    any graph) holds in its ``value`` attribute."""
    yield from proto.graph.initializer
    for node in walk_nodes(proto.graph):
        if not is_op(node, "Constant"):
            continue
        for attr in node.attribute:
            if (
                attr.name == "value"
                and attr.t.data_type in _FLOAT_TYPES
                and tensor_elements(attr.t) >= _MIN_CONSTANT_WEIGHT_ELEMENTS
            ):
                yield attr.t


def _external_data_bytes(proto: onnx.ModelProto, path: Path) -> int:
    locations = {_external_location(t) for t in external_tensors(proto)}
    return sum((path.parent / loc).stat().st_size for loc in locations if loc)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
