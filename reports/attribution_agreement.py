"""How far two results' attributions agree on the samples both explained with equal inputs.

Per method both ran: the mean Spearman rank correlation and the top-``TOP_FRACTION``
overlap of |attribution| between A and B. Used by the compare page; a pure function of the
two results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.explanations import ExplanationsSection, MethodResult, SampleInput
from harness.core.result import AuditResult

__all__ = [
    "TOP_FRACTION",
    "AttributionAgreement",
    "AttributionComparison",
    "attribution_agreement",
    "rank",
    "spearman",
    "top_overlap",
]

TOP_FRACTION = 0.1  # top-k overlap of |attribution|: k is this share of the features


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 (the argsort of the argsort), ties given the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    _, groups, sizes = np.unique(values, return_inverse=True, return_counts=True)
    groups = groups.reshape(-1)
    return np.asarray(np.bincount(groups, weights=ranks) / sizes)[groups]


def _constant(values: np.ndarray) -> bool:
    return values.size < 2 or bool(np.all(values == values[0]))


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rank correlation of two equally long arrays; None (undefined) when either
    is constant or shorter than 2."""
    if x.size != y.size or _constant(x) or _constant(y):
        return None
    return float(np.corrcoef(rank(x), rank(y))[0, 1])


def top_overlap(x: np.ndarray, y: np.ndarray, fraction: float = TOP_FRACTION) -> float | None:
    """Share of the top ``fraction`` of features (at least 1) by X that are also in the top
    by Y; None when either is constant (no top to speak of)."""
    if x.size != y.size or _constant(x) or _constant(y):
        return None
    k = max(1, math.ceil(fraction * x.size))
    top_x = set(np.argsort(-x, kind="stable")[:k].tolist())
    top_y = set(np.argsort(-y, kind="stable")[:k].tolist())
    return len(top_x & top_y) / k


@dataclass(frozen=True)
class AttributionAgreement:
    method: str
    samples: int  # samples compared
    spearman: float | None  # mean over the samples where it is defined; None: undefined
    top_overlap: float | None
    note: str | None = None  # why samples were left out, or why the values are undefined


@dataclass(frozen=True)
class AttributionComparison:
    rows: tuple[AttributionAgreement, ...]
    notes: tuple[str, ...]  # why nothing (or less) could be compared, in words


def _same_input(a: SampleInput, b: SampleInput) -> bool:
    return a.shape == b.shape and a.original_shape == b.original_shape and a.values == b.values


def _indices(indices: Iterable[int]) -> str:
    shown = sorted(indices)
    return ", ".join(str(i) for i in shown)


def _usable(section: ExplanationsSection) -> bool:
    return isinstance(section, ExplanationsSection) and section.status == "ok"


def attribution_agreement(base: AuditResult, current: AuditResult) -> AttributionComparison:
    """Per method both explained: mean Spearman correlation and top-``TOP_FRACTION`` overlap
    of |attribution| between A and B, over the samples both explained with equal inputs
    (and the same target)."""
    a, b = base.explanations, current.explanations
    missing = [label for label, s in (("A", a), ("B", b)) if not _usable(s)]
    if missing:
        return AttributionComparison((), (f"{' and '.join(missing)} holds no explanations.",))
    inputs_a = {s.sample_index: s for s in a.inputs}
    inputs_b = {s.sample_index: s for s in b.inputs}
    if not inputs_a or not inputs_b:
        note = "The results do not hold the explained samples' inputs, so equal inputs "
        return AttributionComparison((), (note + "cannot be confirmed; nothing compared.",))
    both = inputs_a.keys() & inputs_b.keys()
    differ = {i for i in both if not _same_input(inputs_a[i], inputs_b[i])}
    equal = both - differ
    notes = []
    if differ:
        notes.append(f"Inputs differ on sample(s) {_indices(differ)}: those are skipped.")
    if not both:
        notes.append("A and B explained no sample in common.")
    methods_b = {m.name: m for m in b.methods if m.status == "ok"}
    rows = tuple(
        _method_agreement(m, methods_b[m.name], equal, differ)
        for m in a.methods
        if m.status == "ok" and m.name in methods_b
    )
    if not rows:
        notes.append("No attribution method ran on both.")
    return AttributionComparison(rows, tuple(notes))


def _method_agreement(
    a: MethodResult, b: MethodResult, equal: set[int], differ: set[int]
) -> AttributionAgreement:
    maps_a = {m.sample_index: m for m in a.attributions}
    maps_b = {m.sample_index: m for m in b.attributions}
    shared = maps_a.keys() & maps_b.keys()
    usable = sorted(
        i for i in shared & equal
        if maps_a[i].shape == maps_b[i].shape and maps_a[i].target == maps_b[i].target
    )  # fmt: skip
    other = (shared & equal) - set(usable)
    rhos, overlaps = [], []
    for i in usable:
        x = np.abs(np.asarray(maps_a[i].values, dtype=np.float64))
        y = np.abs(np.asarray(maps_b[i].values, dtype=np.float64))
        rhos.append(spearman(x, y))
        overlaps.append(top_overlap(x, y))
    notes = []
    if shared & differ:
        notes.append(f"inputs differ on sample(s) {_indices(shared & differ)}")
    if other:
        notes.append(f"target or map shape differs on sample(s) {_indices(other)}")
    if usable and all(r is None for r in rhos):
        notes.append("undefined: constant attributions")
    return AttributionAgreement(
        a.name, len(usable), _mean(rhos), _mean(overlaps), "; ".join(notes) or None
    )


def _mean(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None
