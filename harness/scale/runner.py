"""The run: skip finished units, run the rest on an executor, retry, record, report.

    1. every unit the store already holds is skipped (a stopped run resumes here)
    2. exclusive (timed) units go first, each alone: on an executor that cannot keep a
       unit alone by itself, nothing else starts until it is done
    3. a unit that fails is tried again, at most ``retries`` more times; the harness's
       errors on the user's input are not (they fail the same way every time); one that
       still fails is written to the store's ``failed/`` with its error, never dropped
    4. each finished unit is written to the store at once, atomically

Progress goes to a callback (the CLI prints it): done, running, failed and an ETA from
this run's pace. Ctrl-C (or any error) stops the executor; what finished is in the store.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.scale.executors import Executor, Running
from harness.scale.store import Store, store_time
from harness.scale.units import CutPlan, WorkUnit
from harness.scale.work import UnitFailure, UnitOutput

__all__ = ["ProgressState", "RunReport", "run_units"]

_POLL_SECONDS = 1.0  # how often a waiting run wakes to refresh progress


@dataclass(frozen=True)
class ProgressState:
    total: int  # units in the plan
    done: int  # finished, in this run or before it
    running: int
    failed: int  # failed every attempt
    eta_seconds: float | None  # None until this run has finished a unit
    event: str  # "start", "done", "retry", "failed", "tick"
    label: str = ""  # the unit the event is about
    detail: str = ""


@dataclass
class RunReport:
    total: int
    skipped: int  # already in the store
    ran: int = 0  # finished in this run
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> failure record
    attempts: Counter[str] = field(default_factory=Counter)
    units: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> timings
    wall_seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed

    def overhead_seconds(self) -> float | None:
        """Mean per unit of the wall time from submitting it to receiving its result, less
        the time it ran inside its worker: what the executor itself costs a unit."""
        gaps = [u["latency_seconds"] - u["seconds"] for u in self.units.values()]
        return sum(gaps) / len(gaps) if gaps else None


def run_units(
    cut: CutPlan,
    store: Store,
    executor: Executor,
    retries: int,
    progress: Callable[[ProgressState], None] = lambda state: None,
) -> RunReport:
    """Run every unit of CUT that STORE lacks; see the module's docstring."""
    units = list({u.id: u for u in cut.units}.values())  # a unit two models share runs once
    todo = [u for u in units if not store.is_done(u.id)]
    todo.sort(key=lambda u: not u.exclusive)  # stable: timed units first, else plan order
    run = _Run(
        cut, store, executor, retries, progress, RunReport(len(units), len(units) - len(todo))
    )
    started = time.perf_counter()
    try:
        run.loop(deque(todo))
    except BaseException as exc:
        executor.abort(run.running)
        exc.add_note(
            f"{run.report.skipped + run.report.ran} of {run.report.total} units are finished "
            f"and kept in the store '{store.root}'; run the same command again to resume"
        )
        raise
    finally:
        executor.close()
        run.report.wall_seconds = round(time.perf_counter() - started, 3)
        store.write_run(_run_record(run.report, executor))
    return run.report


class _Run:
    def __init__(
        self,
        cut: CutPlan,
        store: Store,
        executor: Executor,
        retries: int,
        progress: Callable[[ProgressState], None],
        report: RunReport,
    ) -> None:
        self.cut, self.store, self.executor = cut, store, executor
        self.retries, self.progress, self.report = retries, progress, report
        self.running: list[Running] = []
        self.started = time.perf_counter()

    def loop(self, pending: deque[WorkUnit]) -> None:
        while pending or self.running:
            self._start(pending)
            finished = self.executor.wait(self.running, _POLL_SECONDS)
            for running, outcome in finished:
                self.running.remove(running)
                self._settle(running, outcome, pending)
            if not finished:
                self._tell("tick")

    def _start(self, pending: deque[WorkUnit]) -> None:
        while pending and len(self.running) < self.executor.slots:
            unit = pending[0]
            if self._must_wait(unit):
                return  # a timed unit runs alone: wait for the others to finish
            pending.popleft()
            self.report.attempts[unit.id] += 1
            attempt = self.report.attempts[unit.id]
            # Told before the submit: the inline executor runs the unit inside it.
            self._tell("start", unit, f"attempt {attempt}" if attempt > 1 else "", starting=1)
            fault = self.store.take_fault(unit.id)
            self.running.append(self.executor.submit(unit, self._shard(unit), fault))

    def _must_wait(self, unit: WorkUnit) -> bool:
        """On an executor that cannot keep a unit alone itself: a timed unit starts only on
        an idle executor, and nothing starts beside one."""
        if not self.executor.drains_for_exclusive or not self.running:
            return False
        return unit.exclusive or any(r.unit.exclusive for r in self.running)

    def _shard(self, unit: WorkUnit) -> dict[str, Any] | None:
        if unit.shard is None:
            return None
        return self.cut.datasets[unit.model_name].shard(*unit.shard)

    def _settle(
        self, running: Running, outcome: UnitOutput | UnitFailure, pending: deque[WorkUnit]
    ) -> None:
        unit, attempts = running.unit, self.report.attempts[running.unit.id]
        if isinstance(outcome, UnitOutput):
            self.store.write_unit(unit.id, _unit_record(unit, outcome, attempts))
            self.report.ran += 1
            latency = round(time.perf_counter() - running.submitted, 3)
            self.report.units[unit.id] = {
                "label": unit.label,
                "seconds": outcome.seconds,
                "latency_seconds": latency,
                "attempts": attempts,
            }
            self._tell("done", unit, f"{outcome.seconds:.1f} s")
            return
        if outcome.retryable and attempts <= self.retries:
            pending.appendleft(unit)  # next to start: a retried unit does not wait behind all
            self._tell("retry", unit, str(outcome))
            return
        record = {
            "unit": unit.id,
            "label": unit.label,
            "kind": unit.kind,
            "model": unit.model_name,
            "attempts": attempts,
            "error": str(outcome),
            "failed_at": store_time(),
        }
        self.store.write_failure(unit.id, record)
        self.report.failed[unit.id] = record
        self._tell("failed", unit, str(outcome))

    def _tell(
        self, event: str, unit: WorkUnit | None = None, detail: str = "", starting: int = 0
    ) -> None:
        report = self.report
        done = report.skipped + report.ran
        left = report.total - done - len(report.failed)
        elapsed = time.perf_counter() - self.started
        eta = elapsed / report.ran * left if report.ran else None
        state = ProgressState(
            total=report.total,
            done=done,
            running=len(self.running) + starting,
            failed=len(report.failed),
            eta_seconds=eta,
            event=event,
            label=unit.label if unit is not None else "",
            detail=detail,
        )
        self.progress(state)


def _unit_record(unit: WorkUnit, output: UnitOutput, attempts: int) -> dict[str, Any]:
    import json

    return {
        "unit": unit.id,
        "kind": unit.kind,
        "model": unit.model_name,
        "label": unit.label,
        "method": unit.method,
        "shard": list(unit.shard) if unit.shard is not None else None,
        "ran_alone": output.ran_alone,
        "seconds": output.seconds,
        "attempts": attempts,
        "result": json.loads(output.result_json),
    }


def _run_record(report: RunReport, executor: Executor) -> dict[str, Any]:
    return {
        "finished_at": store_time(),
        "executor": executor.name,
        "workers": executor.slots,
        "units_total": report.total,
        "units_skipped": report.skipped,
        "units_ran": report.ran,
        "units_failed": sorted(report.failed),
        "wall_seconds": report.wall_seconds,
        "overhead_seconds_per_unit": report.overhead_seconds(),
        "units": report.units,
    }
