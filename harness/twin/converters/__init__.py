"""Converters the harness adds to onnx2torch, registered through its own registry.

Each module in this package registers converters for ops (or op versions) that real
exports use and onnx2torch lacks, with ``onnx2torch.node_converters.registry.add_converter``;
nothing of onnx2torch is forked or copied. ``register_all()`` imports them once.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

__all__ = ["register_all"]


@cache
def register_all() -> tuple[str, ...]:
    """Import every converter module (registration is their import side effect); returns
    the module names."""
    names = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names
