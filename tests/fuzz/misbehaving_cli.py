"""A stand-in for ``harness.cli.main`` that breaks one invariant on request, so the runner's
tests can show that each breach is seen: ``main(["audit", "leftover", "--quiet"])`` leaves
a file, and so on (the first word is ``audit`` so that the quiet rule applies)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str]) -> int:
    return BEHAVIOURS[argv[1]]()


def _ok() -> int:
    Path("out").mkdir()
    Path("out/result.json").write_text("{}")
    return 0


def _refuse() -> int:
    print("UsageError: refused, as asked", file=sys.stderr)
    return 2


def _two_lines() -> int:
    print("first line\nsecond line", file=sys.stderr)
    return 2


def _unnamed() -> int:
    print("something went wrong", file=sys.stderr)
    return 2


def _long_line() -> int:
    print("UsageError: " + "x" * 5000, file=sys.stderr)
    return 2


def _leftover() -> int:
    Path(".out.partial-1234").mkdir()
    return _refuse()


def _temporary_file() -> int:
    Path(tempfile.gettempdir(), "stray.bin").write_bytes(b"x")
    return _refuse()


def _lose_input() -> int:
    Path("mine.txt").unlink()
    return _refuse()


def _native_stderr() -> int:
    # What a C++ library prints goes to the descriptor, past sys.stderr.
    os.write(2, b"native: one\nnative: two\n")
    return 0


def _hang() -> int:
    time.sleep(600)
    return 0


def _signal() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


def _grow() -> int:
    """Touch 10 MB more every 10 ms until killed (or 4 GiB, then wait to be)."""
    held = []
    while len(held) < 400:
        held.append(bytearray(10 << 20))
        time.sleep(0.01)
    return _hang()


def _allocate() -> int:
    held = bytearray(300 << 20)  # touched: zero-filled pages count once written
    held[::4096] = b"x" * len(held[::4096])
    return 0


def _escape() -> int:
    raise KeyboardInterrupt


def _internal() -> int:
    print("InternalError: a bug", file=sys.stderr)
    return 3


BEHAVIOURS = {
    "ok": _ok,
    "refuse": _refuse,
    "two-lines": _two_lines,
    "unnamed": _unnamed,
    "long-line": _long_line,
    "leftover": _leftover,
    "temporary-file": _temporary_file,
    "lose-input": _lose_input,
    "native-stderr": _native_stderr,
    "hang": _hang,
    "signal": _signal,
    "grow": _grow,
    "allocate": _allocate,
    "escape": _escape,
    "internal": _internal,
}
