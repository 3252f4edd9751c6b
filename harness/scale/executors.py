"""Where units run: in this process, in a pool of processes, or on a Ray cluster.

Every executor runs the same ``harness.scale.work.run_unit`` on the same units, so what a
unit returns does not depend on where it ran. They differ only in how work is spread and
how an exclusive (timed) unit is kept alone:

    inline    one unit at a time in this process: trivially alone; a crash ends the run
              (the store keeps every unit finished before it)
    process   N worker processes (spawned, so no parent state leaks in); the runner starts
              an exclusive unit only when no other unit runs and starts nothing beside it;
              a worker that dies fails only the attempts it held
    ray       tasks on a Ray cluster (``ray.init`` of a local one, or ``--ray-address``).
              Every node offers one ``harness_node`` resource: an exclusive unit holds all
              of it, any other unit a sliver, so timing never shares a node with another
              unit, on one machine or many. Ray is imported only here.

An executor hands back ``UnitOutput`` or ``UnitFailure`` for each unit; a worker that died
is a retryable ``UnitFailure``.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import logging
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.core.errors import UsageError, first_line, shorten
from harness.scale.work import UnitFailure, UnitOutput, run_unit

if TYPE_CHECKING:
    import numpy as np

    from harness.scale.units import WorkUnit

__all__ = [
    "EXECUTORS",
    "NODE_RESOURCE",
    "Executor",
    "Outcome",
    "make_executor",
]

EXECUTORS = ("inline", "process", "ray")
# The per-node custom resource of the Ray executor: capacity 1 on every node; an exclusive
# unit asks for all of it, any other unit for NODE_SHARE (so up to 1/NODE_SHARE at once).
NODE_RESOURCE = "harness_node"
NODE_SHARE = 0.001
WORKER_DIED = "the worker process died before the unit finished (killed, or out of memory)"

Outcome = UnitOutput | UnitFailure
Shard = dict[str, "np.ndarray"] | None


@dataclass
class Running:
    """A unit in flight."""

    unit: WorkUnit
    handle: Any
    submitted: float = field(default_factory=time.perf_counter)


class Executor(Protocol):
    name: str
    slots: int  # units in flight at most
    # True: the runner keeps an exclusive unit alone (starts it on an idle executor and
    # nothing beside it); False: the executor itself does (Ray's resources).
    drains_for_exclusive: bool
    # How the result's note says an exclusive unit was kept alone.
    isolation: str

    def submit(self, unit: WorkUnit, shard: Shard, fault: str | None) -> Running: ...

    def wait(self, running: list[Running], timeout: float) -> list[tuple[Running, Outcome]]: ...

    def close(self) -> None: ...

    def abort(self, running: list[Running]) -> None:
        """Stop at once (Ctrl-C, an error): RUNNING's units are abandoned, not awaited."""
        ...


def make_executor(name: str, workers: int, ray_address: str | None) -> Executor:
    if name == "inline":
        return InlineExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    return RayExecutor(workers, ray_address)


class InlineExecutor:
    name = "inline"
    slots = 1
    drains_for_exclusive = True
    isolation = "run one unit at a time in the driver"

    def __init__(self) -> None:
        self._done: dict[int, Outcome] = {}

    def submit(self, unit: WorkUnit, shard: Shard, fault: str | None) -> Running:
        running = Running(unit, None)
        try:
            outcome: Outcome = run_unit(unit, shard, fault, ran_alone=unit.exclusive)
        except UnitFailure as failure:
            outcome = failure
        self._done[id(running)] = outcome
        return running

    def wait(self, running: list[Running], timeout: float) -> list[tuple[Running, Outcome]]:
        return [(r, self._done.pop(id(r))) for r in running if id(r) in self._done]

    def close(self) -> None:
        self._done.clear()

    def abort(self, running: list[Running]) -> None:
        self.close()


class ProcessExecutor:
    name = "process"
    drains_for_exclusive = True
    isolation = "run with no other unit in the process pool"

    def __init__(self, workers: int) -> None:
        self.slots = workers
        self._pool: futures.ProcessPoolExecutor | None = None

    def _live_pool(self) -> futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = futures.ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_on_sigterm,
            )
        return self._pool

    def submit(self, unit: WorkUnit, shard: Shard, fault: str | None) -> Running:
        try:
            future = self._live_pool().submit(run_unit, unit, shard, fault, unit.exclusive)
        except futures.process.BrokenProcessPool:
            self._discard_pool()
            future = self._live_pool().submit(run_unit, unit, shard, fault, unit.exclusive)
        return Running(unit, future)

    def wait(self, running: list[Running], timeout: float) -> list[tuple[Running, Outcome]]:
        by_future = {r.handle: r for r in running}
        done, _ = futures.wait(by_future, timeout=timeout, return_when=futures.FIRST_COMPLETED)
        finished = []
        broken = False
        for future in done:
            try:
                outcome: Outcome = future.result()
            except UnitFailure as failure:
                outcome = failure
            except futures.process.BrokenProcessPool:
                outcome, broken = UnitFailure(WORKER_DIED, retryable=True), True
            finished.append((by_future[future], outcome))
        if broken:  # a dead worker breaks the whole pool: the next submit starts a new one
            self._discard_pool()
        return finished

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self, running: list[Running]) -> None:
        """End the workers now: a unit may run for minutes, and Ctrl-C must not wait for
        it (its result would be lost all the same). The pool has no public way to end its
        processes before Python 3.14's ``terminate_workers``."""
        pool = self._pool
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None


def _exit_on_sigterm() -> None:
    """In a pool worker: SIGTERM (``abort``) exits through Python, so a unit's temporary
    shard folder is removed on the way out."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class RayExecutor:
    name = "ray"
    drains_for_exclusive = False
    isolation = f"hold its node's whole '{NODE_RESOURCE}' resource (Ray)"

    def __init__(self, workers: int, address: str | None) -> None:
        ray = _import_ray()
        self.slots = workers
        self._ray = ray
        self._started_here = False
        if not ray.is_initialized():
            self._start(address)
        self._check_resource()
        self._remote: Callable[..., Any] = ray.remote(max_retries=0)(run_unit)

    def _start(self, address: str | None) -> None:
        ray = self._ray
        # ray.init installs a SIGTERM handler that aborts the driver; the harness's own
        # (SIGTERM as Ctrl-C: workers stopped, the store's note printed) is put back.
        term = signal.getsignal(signal.SIGTERM)
        try:
            # Ray's own INFO lines would interleave with the progress on stderr.
            quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
            if address:
                ray.init(address=address, **quiet)
            else:
                ray.init(
                    num_cpus=self.slots,
                    resources={NODE_RESOURCE: 1},
                    include_dashboard=False,
                    **quiet,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at '{shorten(address)}'" if address else "a local Ray"
            raise UsageError(
                f"cannot start or reach {where}: {first_line(exc)}; check --ray-address "
                "(host:port of the head node, or 'auto')"
            ) from exc
        finally:
            if threading.current_thread() is threading.main_thread() and term is not None:
                signal.signal(signal.SIGTERM, term)
        self._started_here = True

    def _check_resource(self) -> None:
        if self._ray.cluster_resources().get(NODE_RESOURCE, 0) < 1:
            self.close()
            raise UsageError(
                f"the Ray cluster offers no '{NODE_RESOURCE}' resource, which keeps timed "
                "units alone on a node; start every node with ray start --resources="
                f"'{{\"{NODE_RESOURCE}\": 1}}'"
            )

    def submit(self, unit: WorkUnit, shard: Shard, fault: str | None) -> Running:
        share = 1.0 if unit.exclusive else NODE_SHARE
        task = self._remote.options(num_cpus=1, resources={NODE_RESOURCE: share})  # type: ignore[attr-defined]
        return Running(unit, task.remote(unit, shard, fault, unit.exclusive))

    def wait(self, running: list[Running], timeout: float) -> list[tuple[Running, Outcome]]:
        ray = self._ray
        by_ref = {r.handle: r for r in running}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        return [(by_ref[ref], self._outcome(ref)) for ref in ready]

    def _outcome(self, ref: Any) -> Outcome:
        from ray import exceptions

        try:
            output: UnitOutput = self._ray.get(ref)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, UnitFailure):
                return cause
            return UnitFailure(f"{type(cause or exc).__name__}: {first_line(cause or exc)}", True)
        except exceptions.RayError as exc:  # the worker or its node died
            return UnitFailure(f"{WORKER_DIED} ({type(exc).__name__})", retryable=True)
        return output

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_here = False

    def abort(self, running: list[Running]) -> None:
        for unit in running:
            # Already finished, or its node gone: nothing is left to stop.
            with contextlib.suppress(Exception):
                self._ray.cancel(unit.handle, force=True)
        self.close()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "--executor ray needs Ray, an optional extra: pip install -e '.[ray]' (or "
            "pip install 'ray>=2.9'), or use --executor process"
        ) from exc
    return ray
