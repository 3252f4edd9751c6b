"""What a worker runs: one unit -> its result, as the text of an ``AuditResult``.

A unit is an ordinary audit narrowed to its part (``WorkUnit.audit_config``): the pipeline,
its stages and their determinism are the audit's own. A shard unit writes its samples into
a private temporary folder and audits them as its ``--data``, so it needs nothing but the
model from the machine it runs on.

``fault`` is a test hook (``Store.take_fault``): ``"kill"`` ends the worker's process at
once, as a crashed or preempted machine would; ``"raise"`` fails the attempt with an error.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import HarnessError, first_line

if TYPE_CHECKING:
    import numpy as np

    from harness.scale.units import WorkUnit

__all__ = ["UnitFailure", "UnitOutput", "run_unit"]


@dataclass(frozen=True)
class UnitOutput:
    unit_id: str
    result_json: str  # the unit's AuditResult
    seconds: float  # wall time inside the worker (the run record's, never an aggregate's)
    ran_alone: bool  # an exclusive unit that held its machine's timing slot


class UnitFailure(Exception):
    """A unit that raised: its error in one line, and whether another attempt may help
    (not for the harness's own errors on the user's input: those fail the same way again)."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable

    def __reduce__(self) -> tuple[type, tuple[str, bool]]:  # survives pickling to the driver
        return (UnitFailure, (str(self), self.retryable))


def run_unit(
    unit: WorkUnit,
    shard: dict[str, np.ndarray] | None = None,
    fault: str | None = None,
    ran_alone: bool = False,
) -> UnitOutput:
    """Run UNIT (SHARD: its samples, for a shard unit); a failure is a ``UnitFailure``."""
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    started = time.perf_counter()
    try:
        if fault == "raise":
            raise RuntimeError(f"fault injected into unit {unit.id} by the store's test hook")
        with _torch_threads(ran_alone):
            text = _audit(unit, shard)
    except HarnessError as exc:
        retryable = exc.exit_code != 2  # the input's fault: the same error every time
        raise UnitFailure(f"{type(exc).__name__}: {first_line(exc)}", retryable) from None
    except Exception as exc:
        raise UnitFailure(f"{type(exc).__name__}: {first_line(exc)}", retryable=True) from None
    return UnitOutput(unit.id, text, round(time.perf_counter() - started, 3), ran_alone)


@contextmanager
def _torch_threads(alone: bool) -> Iterator[None]:
    """Torch's threads while a unit runs. Every unit but a timed one runs torch on ONE
    thread: float sums come out differently with another thread count, and a unit's result
    must not depend on how many workers share its machine or how many cores it has (the
    parallelism is the units side by side). A unit alone on its machine (efficiency)
    times with torch's default, one thread per physical core. ``--threads`` in a model's
    settings overrides both (the pipeline applies it), the same on every worker."""
    import torch

    before = torch.get_num_threads()
    if alone:
        import psutil

        torch.set_num_threads(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    else:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _audit(unit: WorkUnit, shard: dict[str, np.ndarray] | None) -> str:
    from harness.pipeline import run_audit

    config = unit.audit_config()
    if unit.kind != "shard":
        return run_audit(config).to_json()
    if shard is None or unit.shard is None:
        raise RuntimeError(f"shard unit {unit.id} was handed no samples")
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="harness-shard-") as folder:
        data = Path(folder) / "shard.npz"
        np.savez(data, **shard)  # type: ignore[arg-type]  # names are the model's inputs
        count = unit.shard[1] - unit.shard[0]
        return run_audit(replace(config, data=data, samples=count)).to_json()
