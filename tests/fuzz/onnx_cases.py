"""Mutated ONNX files built from the zoo's models, one function per class of damage.

Each class function takes a seeded ``random.Random`` and returns a ``Case`` auditing
``model.onnx`` in the case's folder. The smaller zoo models are drawn more often than the
1.7 MB CNN so that a few hundred cases write little to disk.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache

import onnx

from tests.fuzz.case import ANY, AUDIT_OUTPUTS, COMPLETED, REJECT, ZOO, Case, audit_argv

__all__ = ["ONNX_CLASSES", "hostile_strings", "without_task"]

# (zoo model, weight): the CNN is 1.7 MB, the GRU 0.1 MB.
MODELS = (
    ("rnn_trigger", 4),
    ("transformer_trigger", 2),
    ("autoencoder_digits", 2),
    ("cnn_digits", 1),
)
MODEL_FILE = "model.onnx"
HUGE_DIMS = (10**7, 2**31, 2**63 - 1)


def hostile_strings(rng: random.Random) -> str:
    """A string that breaks naive printing: bidi override, NUL, escapes, markup, length."""
    return rng.choice(
        [
            "\u202egnp.live",
            "a\x00b",
            "\x1b[31mred\x1b[0m",
            "<script>alert(1)</script>",
            "line\nbreak\r",
            "\ufeff\u200b\u2028",
            "x" * 10_000,
            "\u202e" * 5000,
            "}}{{ 7*7 }}{%",
            "\U0001f600" * 100,
        ]
    )


# --------------------------------------------------------------------------- building


@cache
def _zoo_bytes(name: str) -> bytes:
    return (ZOO / f"{name}.onnx").read_bytes()


def _pick_model(rng: random.Random) -> str:
    names, weights = zip(*MODELS, strict=True)
    return rng.choices(names, weights)[0]


def _proto(name: str) -> onnx.ModelProto:
    return onnx.ModelProto.FromString(_zoo_bytes(name))


def without_task(name: str) -> bytes:
    """The zoo model NAME without its metadata: no task, so every sample is synthetic."""
    model = _proto(name)
    del model.metadata_props[:]
    return model.SerializeToString()


def _case(variant: str, model: bytes, codes: frozenset[int] = ANY, *, stages: bool = False) -> Case:
    """Audit ``model.onnx``: fast, or through the explanation and attention stages."""
    return Case(
        name=variant + ("+stages" if stages else ""),
        argv=audit_argv(MODEL_FILE, stages=stages),
        files={MODEL_FILE: model},
        outputs=AUDIT_OUTPUTS,
        codes=codes,
    )


def _input_dims(model: onnx.ModelProto, rng: random.Random) -> list:
    """A random graph input's dims."""
    tensor = model.graph.input[rng.randrange(len(model.graph.input))]
    return list(tensor.type.tensor_type.shape.dim)


# --------------------------------------------------------------------------- classes


def raw_bytes(rng: random.Random) -> Case:
    """Flipped, zeroed, truncated, duplicated or missing bytes."""
    name = _pick_model(rng)
    data = bytearray(_zoo_bytes(name))
    how = rng.choice(["flip", "flip", "zero", "truncate", "append", "empty", "double"])
    if how == "flip":
        for _ in range(rng.randint(1, 64)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == "zero":
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 4096)] = bytes(min(4096, len(data) - start))
    elif how == "truncate":
        del data[rng.randrange(len(data)) :]
    elif how == "append":
        data += rng.randbytes(rng.randint(1, 512))
    elif how == "double":
        data += bytes(data)  # two ModelProtos back to back: protobuf merges the fields
    else:
        data.clear()
    codes = REJECT if how == "empty" else ANY
    return _case(f"onnx.bytes/{how}-{name}", bytes(data), codes)


def dims(rng: random.Random) -> Case:
    """An input dim of 0, -1 or a huge value; unset; or a hostile symbolic name."""
    name = _pick_model(rng)
    model = _proto(name)
    shape = _input_dims(model, rng)
    position = rng.randrange(len(shape))
    dim = shape[position]
    # A huge dim only on the batch axis: a 10**7-step sequence would be a legitimately
    # long forward pass, not a hostile input the harness must refuse at once.
    values = [0, -1, *HUGE_DIMS] if position == 0 else [0, -1, 2**31, 2**63 - 1]
    how = rng.choice([*map(str, values), "unset", "param"])
    if how == "unset":
        dim.Clear()
    elif how == "param":
        dim.dim_param = hostile_strings(rng)
    else:
        dim.dim_value = int(how)
    # 0 and -1 stay open: issue 15 reads a non-positive declared dim as dynamic. What
    # must not happen is what a zero batch once did: hang the explanations stage.
    codes = REJECT if how in map(str, HUGE_DIMS) else ANY
    # A zero batch once passed intake and hung the sample loop of the explanations stage.
    stages = how == "0" and rng.random() < 0.5
    data = model.SerializeToString()
    return _case(f"onnx.dims/{how}@{position}-{name}", data, codes, stages=stages)


def rank(rng: random.Random) -> Case:
    """An input of rank 33 to 100 (numpy stops at 64)."""
    name = _pick_model(rng)
    model = _proto(name)
    shape = model.graph.input[rng.randrange(len(model.graph.input))].type.tensor_type.shape
    target = rng.choice([33, 64, 65, 100])
    while len(shape.dim) < target:
        shape.dim.add().dim_value = 1
    codes = REJECT if target > 64 else ANY
    return _case(f"onnx.rank/{target}-{name}", model.SerializeToString(), codes)


def names(rng: random.Random) -> Case:
    """Input names that are not UTF-8, huge, empty, or hold control characters."""
    name = _pick_model(rng)
    model = _proto(name)
    old = model.graph.input[0].name
    how = rng.choice(["non-utf8", "huge", "hostile", "empty", "node-names"])
    if how == "non-utf8":
        # Protobuf's API takes only str; patch the bytes, keeping each length.
        patched = b"\xff" + old.encode()[1:]
        data = model.SerializeToString().replace(old.encode(), patched)
        return _case(f"onnx.names/{how}-{name}", data, REJECT)
    if how == "node-names":
        for node in model.graph.node:
            node.name = hostile_strings(rng)
    else:
        new = {"huge": "n" * 10_000, "empty": "", "hostile": hostile_strings(rng)}[how]
        _rename(model.graph, old, new)
    # Names are shown by the stages too (attributions per input, attention per layer).
    stages = rng.random() < 0.1  # a stage writes a 5 MB report: few
    return _case(f"onnx.names/{how}-{name}", model.SerializeToString(), stages=stages)


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if item == old else item for item in node.input]
        node.output[:] = [new if item == old else item for item in node.output]


def external_data(rng: random.Random) -> Case:
    """Weights moved to ``weights.bin``, then the locations, offsets or file damaged."""
    name = rng.choice(["rnn_trigger", "transformer_trigger"])
    model = _proto(name)
    blob = _externalise(model)
    how = rng.choice(
        ["intact", "nul", "parent", "absolute", "missing", "offset", "length", "folder", "huge"]
    )
    files = {"weights.bin": blob}
    folder = "m/"  # the model one level down, so '../' still lands inside the case
    location = {
        "nul": "weights.bin\x00.png",
        "parent": "../weights.bin",
        "absolute": "/etc/hostname",
        "folder": ".",
        "huge": "w" * 5000,
    }.get(how, "weights.bin")
    if how != "parent":
        files = {folder + "weights.bin": blob} if how != "missing" else {}
    for tensor in model.graph.initializer:
        entries = {entry.key: entry for entry in tensor.external_data}
        entries["location"].value = location
        if how == "offset":
            entries["offset"].value = str(rng.choice([2**62, -8, len(blob) + 1]))
        elif how == "length":
            entries["length"].value = str(rng.choice([2**40, len(blob) * 2]))
    codes = frozenset({0}) if how == "intact" else REJECT
    return Case(
        name=f"onnx.external/{how}-{name}",
        argv=audit_argv(folder + MODEL_FILE),
        files={folder + MODEL_FILE: model.SerializeToString(), **files},
        outputs=AUDIT_OUTPUTS,
        codes=codes,
    )


def _externalise(model: onnx.ModelProto) -> bytes:
    """Move every raw initializer into one blob, as ``onnx.save(..., external)`` does."""
    blob = bytearray()
    for tensor in model.graph.initializer:
        if not tensor.raw_data:
            continue
        offset = len(blob)
        blob += tensor.raw_data
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (
            ("location", "weights.bin"),
            ("offset", str(offset)),
            ("length", str(len(blob) - offset)),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return bytes(blob)


def dtypes(rng: random.Random) -> Case:
    """An input's element type, or an initializer's, changed; a truncated initializer."""
    name = _pick_model(rng)
    model = _proto(name)
    how = rng.choice(["input", "initializer", "truncated"])
    if how == "input":
        elem = rng.choice([0, 8, 16, 11, 9, 14, 999])
        model.graph.input[0].type.tensor_type.elem_type = elem
        variant = f"input={elem}"
    else:
        tensor = rng.choice([t for t in model.graph.initializer if t.raw_data])
        if how == "initializer":
            tensor.data_type = rng.choice([0, 7, 10, 8, 999])
            variant = f"initializer={tensor.data_type}"
        else:
            tensor.raw_data = tensor.raw_data[: rng.randrange(len(tensor.raw_data))]
            variant = "truncated"
    codes = REJECT if how == "truncated" else ANY
    return _case(f"onnx.dtype/{variant}-{name}", model.SerializeToString(), codes)


def initializers(rng: random.Random) -> Case:
    """Initializers removed, doubled, or given impossible dims."""
    name = _pick_model(rng)
    model = _proto(name)
    how = rng.choice(["drop-one", "drop-all", "duplicate", "dims"])
    if how == "drop-one":
        del model.graph.initializer[rng.randrange(len(model.graph.initializer))]
    elif how == "drop-all":
        del model.graph.initializer[:]
    elif how == "duplicate":
        model.graph.initializer.add().CopyFrom(rng.choice(model.graph.initializer))
    else:
        tensor = rng.choice(model.graph.initializer)
        tensor.dims[:] = [rng.choice([0, -1, 2**40, 2**62])]
    codes = REJECT if how.startswith("drop") else ANY
    return _case(f"onnx.initializer/{how}-{name}", model.SerializeToString(), codes)


def opsets(rng: random.Random) -> Case:
    """The default domain's opset, the IR version, or the opset list changed."""
    name = _pick_model(rng)
    model = _proto(name)
    how = rng.choice(["version", "version", "none", "foreign", "ir"])
    if how == "version":
        value = rng.choice([0, 1, 7, 99, 10**6, 2**62])
        model.opset_import[0].version = value
        how = f"version={value}"
    elif how == "none":
        del model.opset_import[:]
    elif how == "foreign":
        model.opset_import.add(domain="com.evil", version=rng.choice([1, 2**62]))
    else:
        model.ir_version = rng.choice([0, 1, 3, 99, 2**40])
        how = f"ir={model.ir_version}"
    return _case(f"onnx.opset/{how}-{name}", model.SerializeToString())


def strings(rng: random.Random) -> Case:
    """Hostile text in metadata, doc strings, producer and graph name: a valid model."""
    name = _pick_model(rng)
    model = _proto(name)
    where = rng.choice(["metadata", "doc", "producer", "graph", "task"])
    text = hostile_strings(rng)
    if where == "metadata":
        model.metadata_props.add(key=hostile_strings(rng), value=text)
    elif where == "doc":
        model.doc_string = text
        model.graph.doc_string = text
        rng.choice(model.graph.node).doc_string = text
    elif where == "producer":
        model.producer_name, model.producer_version = text, text
    elif where == "graph":
        model.graph.name = text
    else:
        # The harness reads its task from here: an unknown task must be refused or ignored.
        next(p for p in model.metadata_props if p.key == "harness.task").value = text
    # Text is data: only the task's name may decide anything.
    stages = rng.random() < 0.1  # a stage writes a 5 MB report: few
    # With a stage running, the verdict may fail on what the stage finds (exit 1).
    codes = ANY if where == "task" else COMPLETED if stages else frozenset({0})
    data = model.SerializeToString()
    return _case(f"onnx.strings/{where}-{name}", data, codes, stages=stages)


ONNX_CLASSES: dict[str, tuple[Callable[[random.Random], Case], int]] = {
    "onnx.bytes": (raw_bytes, 4),
    "onnx.dims": (dims, 3),
    "onnx.rank": (rank, 1),
    "onnx.names": (names, 2),
    "onnx.external": (external_data, 2),
    "onnx.dtype": (dtypes, 2),
    "onnx.initializer": (initializers, 2),
    "onnx.opset": (opsets, 2),
    "onnx.strings": (strings, 2),
}
