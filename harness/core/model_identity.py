"""Are two results of the same model? The gate and compare refuse to judge two models.

Judging a CNN against a Transformer ("REGRESSION, +6322%") says nothing about either, so
both commands check first:

- ``same file``: both ``.onnx`` files hash the same (``model.sha256``);
- ``same model``: the hashes differ (or a side has none) but the name, the inputs (names,
  dtypes, ranks) and the graph summary (the op histogram) agree: a re-export, a
  re-quantised copy under the same name - allowed, and said;
- ``different``: anything else; refused with exit 2 unless ``--allow-different-models``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.core.errors import UsageError
from harness.core.result import AuditResult, ModelSummary

__all__ = ["ModelIdentity", "Relation", "model_identity", "require_same_model"]

Relation = Literal["same file", "same model", "different"]
ALLOW_FLAG = "--allow-different-models"


@dataclass(frozen=True)
class ModelIdentity:
    relation: Relation
    why: str  # what differs, in words ("" for the same file)

    @property
    def different(self) -> bool:
        return self.relation == "different"


def model_identity(base: AuditResult, current: AuditResult) -> ModelIdentity:
    """How BASE's model relates to CURRENT's."""
    a, b = base.model, current.model
    if a.sha256 is not None and a.sha256 == b.sha256:
        return ModelIdentity("same file", "")
    differences = _differences(a, b)
    if differences:
        return ModelIdentity("different", "; ".join(differences))
    hashed = "files hash differently" if a.sha256 and b.sha256 else "no file hash to compare"
    return ModelIdentity("same model", f"same name, inputs and graph summary; {hashed}")


def require_same_model(
    base: AuditResult, current: AuditResult, *, allow: bool, labels: tuple[str, str]
) -> ModelIdentity:
    """The identity of the two models; a UsageError (exit 2) when they differ and ALLOW
    (``--allow-different-models``) is not set. LABELS name the sides ("BASE", "CURRENT")."""
    identity = model_identity(base, current)
    if identity.different and not allow:
        raise UsageError(
            f"{labels[0]} and {labels[1]} are results of different models ({identity.why}); "
            f"pass {ALLOW_FLAG} to compare them anyway"
        )
    return identity


def _differences(a: ModelSummary, b: ModelSummary) -> list[str]:
    found = []
    if a.name != b.name:
        found.append(f"name {a.name!r} vs {b.name!r}")
    if _inputs(a) != _inputs(b):
        found.append(f"inputs {_inputs_text(a)} vs {_inputs_text(b)}")
    if a.op_histogram != b.op_histogram:
        found.append(f"graph summary {a.node_count} vs {b.node_count} nodes, ops differ")
    return found


def _inputs(model: ModelSummary) -> tuple[tuple[str, str, int], ...]:
    return tuple((spec.name, spec.dtype, len(spec.shape)) for spec in model.inputs)


def _inputs_text(model: ModelSummary) -> str:
    shown = ", ".join(f"{name}:{dtype}[rank {rank}]" for name, dtype, rank in _inputs(model))
    return f"[{shown}]"
