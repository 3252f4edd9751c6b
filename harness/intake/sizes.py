"""The bytes an audit's inputs will take, counted before any of them is allocated.

Every tensor intake builds or reads is counted from its shape and dtype (for ``--data``,
from the headers in the file, before a byte of data is decompressed) against the audit's
``--max-input-bytes``. A declared dim of 10**7, a ``--shape`` of 2**31 or an ``.npz`` zip
bomb is then one error line naming the size and the flag that raises the limit, instead of
gigabytes of memory (or a ``MemoryError``) before anything fails.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from harness.core.errors import InputError
from harness.core.model import shape_text
from harness.core.read_limits import human_size

__all__ = ["InputBytes", "array_bytes", "describe", "physical_memory"]


def array_bytes(shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes of an array of ``shape``; Python integers, so 2**63-sized dims cannot wrap."""
    return math.prod(shape) * itemsize


def describe(name: str, shape: tuple[int, ...], dtype: str) -> str:
    """``input 'x' (1x3x224x224 float32)``: how an error names a tensor."""
    return f"input '{name}' ({shape_text(shape)} {dtype})"


@dataclass
class InputBytes:
    """The running total of the inputs' bytes, held to ``limit``."""

    limit: int
    total: int = 0
    counted: list[str] = field(default_factory=list)

    def add(self, what: str, nbytes: int, error: type[InputError], fix: str) -> None:
        """Count ``nbytes`` for ``what`` (a tensor in words); raise ``error`` when the total
        passes the limit. ``fix`` says what would make the inputs smaller."""
        self.total += nbytes
        self.counted.append(what)
        if self.total <= self.limit:
            return
        together = (
            f", {human_size(self.total)} with the other inputs" if self.total != nbytes else ""
        )
        memory = physical_memory()
        if memory is not None and self.total > memory:
            # No limit helps: say so rather than suggest --max-input-bytes 137438953472GiB.
            remedy = f"more than this machine's {human_size(memory)} of memory; {fix}"
        else:
            remedy = f"{fix}, or raise the limit with --max-input-bytes {_rounded_up(self.total)}"
        raise error(
            f"{what} would take {human_size(nbytes)}{together}, over the "
            f"{human_size(self.limit)} input limit; {remedy}"
        )


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
        return None


def _rounded_up(nbytes: int) -> str:
    """A --max-input-bytes value that admits ``nbytes``: whole MiB or GiB, rounded up."""
    gib, mib = 1024**3, 1024**2
    if nbytes >= gib:
        return f"{-(-nbytes // gib)}GiB"
    return f"{-(-nbytes // mib)}MiB"
