"""Peak resident memory of a block of code.

On Linux the kernel keeps the high-water mark itself: writing 5 to
``/proc/self/clear_refs`` resets ``VmHWM`` to the current RSS, and reading it afterwards
gives the true peak, however short. Elsewhere a thread polls RSS with psutil every
millisecond, which can miss spikes shorter than that; the result says which method ran.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import psutil

__all__ = ["PeakWatch", "current_rss_bytes", "method", "watch_peak"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def current_rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def method() -> Literal["vmhwm", "psutil-poll"]:
    try:
        _CLEAR_REFS.write_text("5")
        _read_status_kb("VmHWM")
    except (OSError, ValueError):
        return "psutil-poll"
    return "vmhwm"


class PeakWatch:
    """Filled in when the ``watch_peak`` block ends."""

    peak_bytes: int = 0


@contextmanager
def watch_peak() -> Iterator[PeakWatch]:
    """The peak RSS (bytes, absolute) reached inside the block."""
    watch = PeakWatch()
    if method() == "vmhwm":
        _CLEAR_REFS.write_text("5")  # high-water mark := current RSS
        yield watch
        watch.peak_bytes = _read_status_kb("VmHWM") * 1024
        return
    with _poller(current_rss_bytes) as peak:
        yield watch
    watch.peak_bytes = peak()


@contextmanager
def _poller(sample: Callable[[], int]) -> Iterator[Callable[[], int]]:
    highest = [sample()]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.001):
            highest[0] = max(highest[0], sample())

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield lambda: highest[0]
    finally:
        stop.set()
        thread.join()
        highest[0] = max(highest[0], sample())


def _read_status_kb(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ValueError(f"{field} not in {_STATUS}")
