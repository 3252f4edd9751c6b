"""The model audit harness: ``python -m harness audit model.onnx``.

Public surface (imported lazily, so ``import harness`` stays cheap):

    audit(config)        run an audit and write report.html + result.json atomically
    run_audit(config)    measure only; returns an AuditResult
    AuditConfig, AuditResult, resolve_config
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness._version import __version__

if TYPE_CHECKING:
    from harness.core.config import AuditConfig, resolve_config
    from harness.core.result import AuditResult
    from harness.pipeline import audit, run_audit

__all__ = ["AuditConfig", "AuditResult", "__version__", "audit", "resolve_config", "run_audit"]

_LAZY = {
    "AuditConfig": "harness.core.config",
    "resolve_config": "harness.core.config",
    "AuditResult": "harness.core.result",
    "audit": "harness.pipeline",
    "run_audit": "harness.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
