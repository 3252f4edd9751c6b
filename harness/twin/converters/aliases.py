"""Newer since-versions of ops onnx2torch already converts, where the semantics did not change.

onnx2torch picks a converter by the op's since-version at the model's opset, so an opset-22
model's ``Conv`` asks for ``Conv``-22 even though only bfloat16 was added. Each entry below
reuses onnx2torch's own converter for ``base_version`` (looked up in its registry, not copied)
under the newer versions. ``why`` says why the semantics match, from the ONNX changelog
(``onnx.defs.get_schema(op, version)``: attributes, inputs, outputs, type constraints and doc
compared version by version). A ``guard`` refuses nodes that use what the newer version
added, so an alias never converts a node into a silently different module.

Versions whose semantics did change get converters of their own elsewhere in this package
(Pad-18, Reduce*-18, Split-18, Reshape-19, Flatten-21). Left out on purpose: Mod-28 (float
``fmod=0`` is new), Range-27 (``stash_type``), and the opset-28 bumps of Celu, Einsum and
DepthToSpace, which no exporter writes yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.twin.converters._registry import Converter, is_registered, lookup, register_missing

__all__ = ["NEWER_VERSION_ALIASES", "VersionAlias"]

_LOGGER = logging.getLogger(__name__)

# A guard returns why a node cannot use the alias (None when it can).
Guard = Callable[[Any], str | None]

_DTYPES_ONLY = "newer versions only widen the type constraints (no attribute, input or doc change)"


@dataclass(frozen=True)
class VersionAlias:
    op_type: str
    base_version: int  # onnx2torch's converter that is reused
    versions: tuple[int, ...]  # the newer since-versions registered to it
    why: str
    guard: Guard | None = None


def _avgpool_guard(node: Any) -> str | None:
    dilations = node.attributes.get("dilations")
    if dilations and any(d != 1 for d in dilations):
        return f"dilations={list(dilations)} (added in AveragePool-19) is not supported"
    return None


def _resize_guard(node: Any) -> str | None:
    attrs = node.attributes
    if attrs.get("antialias", 0) != 0:
        return "antialias=1 (added in Resize-18) is not supported"
    if attrs.get("axes"):
        return f"axes={list(attrs['axes'])} (added in Resize-18) is not supported"
    if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        return (
            f"keep_aspect_ratio_policy={attrs['keep_aspect_ratio_policy']!r} "
            "(added in Resize-18) is not supported"
        )
    if attrs.get("coordinate_transformation_mode") == "half_pixel_symmetric":
        return "coordinate_transformation_mode='half_pixel_symmetric' (Resize-19) is not supported"
    return None


def _scatternd_guard(node: Any) -> str | None:
    reduction = node.attributes.get("reduction", "none")
    if reduction != "none":
        return f"reduction={reduction!r} is not supported (only 'none')"
    return None


NEWER_VERSION_ALIASES: tuple[VersionAlias, ...] = (
    # Comparisons: 16 adds bfloat16, 19 adds string to Equal.
    VersionAlias("GreaterOrEqual", 12, (16,), "16 only adds bfloat16"),
    VersionAlias("LessOrEqual", 12, (16,), "16 only adds bfloat16"),
    VersionAlias("Equal", 13, (19,), "19 only adds string inputs"),
    # Data movement: 19/21/23/24/25 add float8, int4, float4, float8e8m0, int2 types.
    VersionAlias("Identity", 16, (19, 21, 23, 24, 25), _DTYPES_ONLY),
    VersionAlias("Constant", 13, (19, 21, 23, 24, 25), _DTYPES_ONLY),
    VersionAlias("ConstantOfShape", 9, (20, 21, 23, 24, 25), _DTYPES_ONLY),
    VersionAlias("Shape", 15, (19, 21, 23, 24, 25), _DTYPES_ONLY + "; start/end kept from 15"),
    VersionAlias("Transpose", 13, (21, 23, 24, 25), _DTYPES_ONLY),
    VersionAlias("Unsqueeze", 13, (21, 23, 24, 25), _DTYPES_ONLY + "; axes stay an input"),
    VersionAlias("Squeeze", 21, (23, 24, 25), _DTYPES_ONLY),
    VersionAlias(
        "Cast",
        13,
        (19, 21, 23, 24, 25),
        "adds float8/int4/float4 targets and saturate/round_mode, which only apply to those "
        "targets; onnx2torch refuses them (NotImplementedError), so every cast it accepts "
        "means the same",
    ),
    VersionAlias("IsInf", 10, (20,), "20 only adds bfloat16/float16/float8 inputs"),
    VersionAlias("IsNaN", 13, (20,), "20 only adds float8 inputs"),
    # Opset 22 added bfloat16 to every float op and changed nothing else.
    VersionAlias("Conv", 11, (22,), "22 only adds bfloat16"),
    VersionAlias("ConvTranspose", 11, (22,), "22 only adds bfloat16"),
    VersionAlias(
        "MaxPool",
        12,
        (22,),
        "22 adds bfloat16 and clarifies that ceil_mode windows starting in the right "
        "padding are dropped, which is what torch does",
    ),
    VersionAlias("GlobalAveragePool", 1, (22,), "22 only adds bfloat16"),
    VersionAlias("InstanceNormalization", 6, (22,), "22 only adds bfloat16"),
    VersionAlias("Dropout", 13, (22,), "22 only adds bfloat16/float8"),
    VersionAlias("HardSigmoid", 6, (22,), "22 only adds bfloat16"),
    VersionAlias("HardSwish", 14, (22,), "22 only adds bfloat16"),
    VersionAlias("Elu", 6, (22,), "22 only adds bfloat16"),
    VersionAlias("Selu", 6, (22,), "22 only adds bfloat16"),
    VersionAlias("Softplus", 1, (22,), "22 only adds bfloat16"),
    VersionAlias("Softsign", 1, (22,), "22 only adds bfloat16"),
    VersionAlias("Round", 11, (22,), "22 only adds bfloat16"),
    VersionAlias("Sin", 7, (22,), "22 only adds bfloat16"),
    VersionAlias("Cos", 7, (22,), "22 only adds bfloat16"),
    VersionAlias("Tan", 7, (22,), "22 only adds bfloat16"),
    VersionAlias("Asin", 7, (22,), "22 only adds bfloat16"),
    VersionAlias("Acos", 7, (22,), "22 only adds bfloat16"),
    VersionAlias("Atan", 7, (22,), "22 only adds bfloat16"),
    VersionAlias("EyeLike", 9, (22,), "22 only adds bfloat16"),
    VersionAlias("RoiAlign", 16, (22,), "22 only adds bfloat16"),
    VersionAlias("TopK", 11, (24,), "24 only adds bfloat16"),
    # Guarded: the newer version added something; nodes that do not use it mean the same.
    VersionAlias(
        "AveragePool",
        11,
        (19, 22),
        "19 adds the dilations attribute (22: bfloat16); without dilations it is AveragePool-11",
        guard=_avgpool_guard,
    ),
    VersionAlias(
        "Resize",
        13,
        (18, 19),
        "18 adds antialias, axes and keep_aspect_ratio_policy, 19 the half_pixel_symmetric "
        "mode; with their defaults it is Resize-13",
        guard=_resize_guard,
    ),
    VersionAlias(
        "ScatterND",
        16,
        (18,),
        "18 adds reduction='max'/'min'; onnx2torch's 16 supports reduction='none' only, "
        "which 18 leaves unchanged",
        guard=_scatternd_guard,
    ),
)


def _guarded(alias: VersionAlias, base: Converter) -> Converter:
    guard = alias.guard

    def convert(node: Any, graph: Any) -> Any:
        reason = guard(node) if guard is not None else None
        if reason is not None:
            raise NotImplementedError(
                f"{alias.op_type} node {node.name!r}: {reason}; the harness reuses "
                f"{alias.op_type}-{alias.base_version}'s converter, which cannot express it"
            )
        return base(node, graph)

    convert.__qualname__ = f"alias_{alias.op_type}_{alias.base_version}"
    return convert


def _register(aliases: tuple[VersionAlias, ...]) -> None:
    for alias in aliases:
        if not is_registered(alias.op_type, alias.base_version):
            _LOGGER.warning(
                "onnx2torch has no %s-%d converter to alias; %s left unregistered",
                alias.op_type,
                alias.base_version,
                alias.versions,
            )
            continue
        base = lookup(alias.op_type, alias.base_version)
        converter = base if alias.guard is None else _guarded(alias, base)
        register_missing(alias.op_type, alias.versions)(converter)


_register(NEWER_VERSION_ALIASES)
