"""Reading a file the user hands in, with a ceiling on its size.

Every file the harness parses from the user (a result.json for report, compare and the
gate; a --config or --policy TOML, a pyproject.toml) is read through ``read_limited``: a
file over its limit is refused before a byte of it is parsed, so a stray multi-gigabyte
file (or /dev/zero) costs a stat, not the machine's memory. The limits sit far above
anything the harness writes or a person types (README, "Limits").
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MAX_RESULT_BYTES", "MAX_TOML_BYTES", "FileTooLargeError", "human_size", "read_limited"]

# A result.json is typically 30 KB to 2 MB; a thorough audit keeps at most 200,000 latency
# samples per backend run (about 5 MB of JSON each) and 100,000 attention-map values per
# shown sample, so even four runs stay under half of this.
MAX_RESULT_BYTES = 64 * 1024**2
# A config or policy is a few lines; a pyproject.toml holding [tool.harness] a few KB.
MAX_TOML_BYTES = 1024**2


class FileTooLargeError(Exception):
    """PATH holds more than LIMIT bytes (SIZE: its size, None when it could not be known
    in advance, as for a pipe)."""

    def __init__(self, path: Path, size: int | None, limit: int) -> None:
        shown = "more than that" if size is None else human_size(size)
        if shown == human_size(limit):  # just over: 1.0 MiB is not over 1.0 MiB
            shown = f"{size:,} bytes"
        super().__init__(f"'{path}' is {shown}, over the {human_size(limit)} limit")
        self.path, self.size, self.limit = path, size, limit


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of PATH, or ``FileTooLargeError`` when it holds more than LIMIT; reads at
    most LIMIT + 1 bytes whatever the file claims (a pipe, a device or a file still growing
    has no trustworthy size). OSError (missing, unreadable) passes through."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise FileTooLargeError(path, size, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(path, None, limit)
    return data


def human_size(size: int) -> str:
    """Bytes in the largest binary unit that keeps a number of at least 1: 64.0 MiB."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"
