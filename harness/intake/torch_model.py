"""Load a PyTorch model: a reference model (``ref:NAME``) or a user factory (``pkg.mod:factory``).

A PyTorch module does not declare its inputs the way an ONNX graph does. Reference models
carry their specs in the ``models`` registry; for a factory the input names come from
``forward``'s signature and the shapes from ``--shape`` (required, there is nothing else to
read them from).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections import Counter
from typing import Any

from harness.core.errors import ModelLoadError, UsageError, first_line
from harness.core.model import LoadedModel, TensorSpec
from harness.core.result import ModelSummary

__all__ = ["FACTORY_PATTERN", "load_factory", "load_reference", "summarize_torch"]

# package.module:callable, the same spelling as console-script entry points.
FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_reference(source: str) -> LoadedModel:
    from harness import models

    reference = models.get_reference(source.removeprefix("ref:"))
    return LoadedModel(
        source=source,
        name=reference.name,
        format="pytorch",
        inputs=reference.inputs,
        outputs=reference.outputs,
        task=reference.task,
        module=reference.build(),
    )


def load_factory(
    source: str, shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str]
) -> LoadedModel:
    module = _call_factory(source)
    names = _forward_input_names(module, source)
    missing = [name for name in names if name not in shapes]
    if missing:
        example = " ".join(f"--shape {name}=1x..." for name in missing)
        raise UsageError(
            f"a PyTorch model declares no input shapes; pass one per forward() argument "
            f"({', '.join(names)}): {example}"
        )
    inputs = tuple(
        TensorSpec(name=name, dtype=dtypes.get(name, "float32"), shape=shapes[name])
        for name in names
    )
    # Outputs are only known after a forward pass; the pipeline records them then.
    return LoadedModel(
        source=source,
        name=source.rsplit(":", 1)[1],
        format="pytorch",
        inputs=inputs,
        outputs=(),
        module=module,
    )


def _call_factory(source: str) -> Any:
    from torch import nn

    module_name, attr = source.rsplit(":", 1)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ModelLoadError(
            f"cannot import '{module_name}' for {source}: {first_line(exc)}; "
            "check the name and that it is importable (PYTHONPATH)"
        ) from exc
    except AttributeError as exc:
        raise ModelLoadError(f"'{module_name}' has no attribute '{attr}' ({source})") from exc
    try:
        module = factory()
    except Exception as exc:
        raise ModelLoadError(
            f"{source}() raised {type(exc).__name__}: {first_line(exc)}; "
            "the factory must build the model with no arguments"
        ) from exc
    if not isinstance(module, nn.Module):
        raise ModelLoadError(f"{source}() returned {type(module).__name__}, not a torch.nn.Module")
    return module.eval()


def _forward_input_names(module: Any, source: str) -> tuple[str, ...]:
    parameters = inspect.signature(module.forward).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if any(p.kind in variadic for p in parameters):
        raise ModelLoadError(
            f"{source}: forward() takes *args/**kwargs, so its inputs cannot be named; "
            "wrap the model in a module whose forward() names each input"
        )
    # Arguments with defaults are optional; the harness feeds the required ones.
    return tuple(p.name for p in parameters if p.default is inspect.Parameter.empty)


def summarize_torch(model: LoadedModel) -> ModelSummary:
    module = model.module
    tensors = [*module.parameters(), *module.buffers()]
    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    histogram = Counter(type(m).__name__ for m in leaves)
    return ModelSummary(
        source=model.source,
        name=model.name,
        format="pytorch",
        path=None,
        file_bytes=None,
        sha256=None,
        ir_version=None,
        opsets={},
        producer=f"torch {_torch_version()}",
        metadata={},
        inputs=model.inputs,
        outputs=model.outputs,
        parameter_count=sum(p.numel() for p in module.parameters()),
        parameter_bytes=sum(t.numel() * t.element_size() for t in tensors),
        node_count=len(leaves),
        op_histogram=dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _torch_version() -> str:
    import torch

    return str(torch.__version__)
