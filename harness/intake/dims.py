"""Binding symbolic dimensions to sizes, shared across all of a model's inputs.

Order of evidence: ``--data`` arrays, then ``--shape``, then documented defaults by the
dim's name. A default other than the batch size is recorded as a warning in the result:
the harness says what it chose, it never guesses silently.

A dim the model declares as 0 or negative (some exporters write -1 for "dynamic") is read
as an unnamed dynamic dim: ``--shape`` or ``--data`` sizes it by position, else it takes the
default for an unnamed dim (1 on axis 0, else an error naming the dim). What is refused is a
*resolved* size below 1 (an empty input), which ``--shape`` and ``--data`` never give.

Defaults (README documents the same table):

    name matches                        size   warning
    batch, batch_size, n, b, bs           1      no
    sequence, seq, len, length, tokens,  128     yes
      time, steps, frames, positions
    height, width, h, w, size            224     yes
    any other name, on axis 0              1     yes  (taken as the batch dim)
    anything else                         error: pass --shape
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.core.errors import DataError, InputResolutionError, UsageError
from harness.core.model import TensorSpec, is_batch_dim, shape_text

__all__ = ["DEFAULT_SEQUENCE", "DEFAULT_SPATIAL", "DimBinder"]

DEFAULT_SEQUENCE = 128
DEFAULT_SPATIAL = 224

_SEQUENCE_NAMES = re.compile(
    r"(seq|sequence|len|length|token|time|step|frame|position)", re.IGNORECASE
)
_SPATIAL_NAMES = re.compile(r"^(h|w|height|width|size|img_?size)$|height|width", re.IGNORECASE)


@dataclass
class DimBinder:
    """Symbolic dim name -> size, and the warnings for every default chosen."""

    sizes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # The pipeline lowers this when the model rejects the default (a position table with
    # fewer rows, say); ``sequence_defaulted`` tells it whether a retry can help.
    sequence_default: int = DEFAULT_SEQUENCE
    sequence_defaulted: bool = False
    # Sizes --shape or --data gave dims that have no name to bind (unnamed dynamic dims, and
    # dims declared 0 or negative), by (input, axis).
    given_sizes: dict[tuple[str, int], int] = field(default_factory=dict)

    def bind_given(self, spec: TensorSpec, given: tuple[int, ...], origin: str) -> None:
        """Check ``given`` (from --shape or --data) against the declared shape and bind it."""
        # --shape is a flag's value; --data, --members, --nonmembers are files' contents.
        error = UsageError if origin == "--shape" else DataError
        if len(given) != spec.rank:
            fix = (
                f"reshape the array to {spec.rank} dims (add a batch axis?)"
                if error is DataError
                else f"give {spec.rank} dims, e.g. --shape {spec.name}={self.example(spec)}"
            )
            raise error(
                f"input '{spec.name}' expects {spec.rank} dims ({spec.shape_text()}), "
                f"{origin} gives {len(given)} ({shape_text(given)}); {fix}"
            )
        for axis, (declared, size) in enumerate(zip(spec.shape, given, strict=True)):
            self._bind_one(spec, axis, declared, size, origin, error)

    def _bind_one(
        self,
        spec: TensorSpec,
        axis: int,
        declared: int | str | None,
        size: int,
        origin: str,
        error: type[UsageError] | type[DataError],
    ) -> None:
        where = f"input '{spec.name}' dim {axis}"
        declared = _as_declared(declared)
        if declared is None:
            self.given_sizes[(spec.name, axis)] = size
        if isinstance(declared, int) and declared != size:
            raise error(
                f"{where} is fixed at {declared} ({spec.shape_text()}), {origin} gives "
                f"{size}; the model cannot take another size there"
            )
        if isinstance(declared, str):
            bound = self.sizes.setdefault(declared, size)
            if bound != size:
                raise error(
                    f"{where} is '{declared}', already {bound} from another input, but "
                    f"{origin} gives {size}; inputs sharing a dim name must agree"
                )

    def resolve(self, spec: TensorSpec) -> tuple[int, ...]:
        """The concrete shape of ``spec``, taking defaults where nothing bound a dim."""
        return tuple(self._resolve_dim(spec, axis, d) for axis, d in enumerate(spec.shape))

    def _resolve_dim(self, spec: TensorSpec, axis: int, declared: int | str | None) -> int:
        declared = _as_declared(declared)
        if isinstance(declared, int):
            return declared
        if (spec.name, axis) in self.given_sizes:  # only unnamed dims
            return self.given_sizes[(spec.name, axis)]
        if declared is not None and declared in self.sizes:
            return self.sizes[declared]
        size, warning = _default_size(declared, axis)
        if size == DEFAULT_SEQUENCE and warning:
            size, self.sequence_defaulted = self.sequence_default, True
        if size is None:
            label = f"'{declared}'" if declared else "unnamed and dynamic"
            raise InputResolutionError(
                f"input '{spec.name}' dim {axis} ({label}) of {spec.shape_text()} has no "
                f"default size; pass --shape {spec.name}={self.example(spec)}"
            )
        if warning:
            self.warnings.append(
                f"input '{spec.name}' dim {axis} ({declared or 'unnamed'}) set to {size} "
                f"by default ({warning}); pass --shape {spec.name}=... to choose"
            )
        if declared is not None:
            self.sizes[declared] = size
        return size

    def example(self, spec: TensorSpec) -> str:
        """A --shape value for ``spec`` with what is known filled in and N elsewhere."""
        parts = []
        for axis, declared in enumerate(spec.shape):
            d = _as_declared(declared)
            if isinstance(d, int):
                known: int | None = d
            elif isinstance(d, str):
                known = self.sizes.get(d)
            else:
                known = self.given_sizes.get((spec.name, axis))
            parts.append(str(known) if known is not None else "N")
        return "x".join(parts) or "scalar"


def _as_declared(declared: int | str | None) -> int | str | None:
    """``declared``, with a size below 1 read as unnamed and dynamic: exporters write -1 (and
    some 0) where they mean "any size", and no tensor can be fed with such a size."""
    if isinstance(declared, int) and declared < 1:
        return None
    return declared


def _default_size(name: str | None, axis: int) -> tuple[int | None, str]:
    """The documented default for a dim, and why (empty when no warning is due)."""
    if is_batch_dim(name):
        return 1, ""
    if name and _SEQUENCE_NAMES.search(name):
        return DEFAULT_SEQUENCE, "a sequence length"
    if name and _SPATIAL_NAMES.search(name):
        return DEFAULT_SPATIAL, "an image side"
    if axis == 0:
        return 1, "axis 0 taken as the batch dim"
    return None, ""
