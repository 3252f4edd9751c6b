"""``python -m harness audit-many PLAN.toml``: audit every model of a plan as work units on
an executor (inline, a process pool, Ray), into OUT/summary.html and one folder per model.

Exit codes: 0 every unit finished and no model's verdict fails under its ``fail_on``;
1 a stage failed or a verdict fails; 2 bad usage or a bad plan; 3 a bug (a stage raised
one); 5 partial: a unit failed every attempt (named by id on stderr; rerun to finish).
``UnitProgress`` is also what ``audit --samples all`` prints its units' progress with.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.commands.audit import command_line
from harness.commands.outcome import one_line
from harness.core.errors import ExitCode, UsageError, shorten
from harness.core.verdict import fails_under, verdict_line

if TYPE_CHECKING:
    from harness.scale.runner import ProgressState
    from harness.scale.scaled import Execution, ScaleOutcome

__all__ = [
    "UnitProgress",
    "execution_from_args",
    "outcome_exit_code",
    "print_failures",
    "reproducible_command",
    "run",
]


def run(args: argparse.Namespace) -> int:
    from harness.scale.plan import read_plan
    from harness.scale.scaled import audit_many

    plan_path = Path(args.plan)
    plan = read_plan(plan_path)
    if args.retries is not None:
        from dataclasses import replace

        from harness.scale.plan import check_retries

        check_retries(args.retries, "--retries")
        plan = replace(plan, retries=args.retries)
    out = Path(args.out) if args.out else Path(f"audit-many-{plan_path.stem}")
    progress = UnitProgress(quiet=args.quiet)
    outcome = audit_many(
        plan,
        out,
        Path(args.store) if args.store else None,
        execution_from_args(args),
        progress,
        command=reproducible_command(args.argv),
    )
    progress.finish()
    if not args.quiet:
        print(one_line(run_line(outcome)), file=sys.stderr)
    print(f"wrote {outcome.out / 'summary.html'} ({len(outcome.aggregates)} model(s))")
    return outcome_exit_code(outcome)


# Flags that say where and how units run, not what they compute: left out of the command
# recorded in the aggregates, which are the same bytes whichever executor made them.
_EXECUTION_FLAGS = ("--executor", "--workers", "--ray-address", "--store", "--retries")
_EXECUTION_SWITCHES = ("--quiet", "--debug")


def reproducible_command(argv: list[str]) -> str:
    """The command line recorded in the aggregates: ARGV without the executor's flags."""
    kept: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
            continue
        name = arg.split("=", 1)[0]
        if name in _EXECUTION_FLAGS:
            skip_value = "=" not in arg
            continue
        if arg not in _EXECUTION_SWITCHES:
            kept.append(arg)
    return command_line(kept)


def execution_from_args(args: argparse.Namespace) -> Execution:
    """--executor, --workers and --ray-address, checked."""
    from harness.scale.scaled import Execution

    executor = args.executor or "inline"
    workers = args.workers if args.workers is not None else 1
    if not 1 <= workers <= 1024:
        raise UsageError(f"--workers must be from 1 to 1024, got {workers}")
    if executor == "inline" and workers != 1:
        raise UsageError(
            "--executor inline runs one unit at a time; add --executor process (or ray) to "
            f"run {workers} at once"
        )
    if args.ray_address and executor != "ray":
        raise UsageError("--ray-address needs --executor ray")
    return Execution(executor, workers, args.ray_address)


def outcome_exit_code(outcome: ScaleOutcome) -> int:
    """Say which units failed and each model's verdict; the exit code (module docstring)."""
    from harness.stages.runner import is_internal_failure

    print_failures(outcome)
    internal = failed = False
    for aggregate in outcome.aggregates:
        result = aggregate.result
        if result is None:
            continue
        stages = result.failed_stages()
        internal = internal or any(is_internal_failure(result.stage(s)) for s in stages)
        failed = failed or bool(stages) or fails_under(result.verdict, result.config.fail_on)
        if result.verdict is not None:
            print(one_line(f"{aggregate.name}: {verdict_line(result.verdict)}"), file=sys.stderr)
    if internal:
        return ExitCode.INTERNAL
    if outcome.partial:
        return ExitCode.PARTIAL
    return ExitCode.CHECK_FAILED if failed else ExitCode.OK


def run_line(outcome: ScaleOutcome) -> str:
    """``ran 16 of 17 units in 88.1 s (1 already in the store, 0 failed)``."""
    report = outcome.report
    return (
        f"ran {report.ran} of {report.total} units in {report.wall_seconds:.1f} s "
        f"({report.skipped} already in the store, {len(report.failed)} failed)"
    )


def print_failures(outcome: ScaleOutcome) -> None:
    """One stderr line per unit that failed every attempt, per model without a result,
    and how to finish a partial run."""
    for unit_id, record in sorted(outcome.report.failed.items()):
        line = (
            f"unit {unit_id} ({record['label']}) failed after {record['attempts']} "
            f"attempt(s): {record['error']}"
        )
        print(one_line(line), file=sys.stderr)
    for aggregate in outcome.aggregates:
        if aggregate.result is None:
            print(f"{aggregate.name}: no result (its intake unit did not finish)", file=sys.stderr)
    if outcome.partial:
        line = (
            "partial: rerun the same command to run only the missing units (the store "
            f"'{shorten(str(outcome.store))}' keeps the finished ones)"
        )
        print(one_line(line), file=sys.stderr)


class UnitProgress:
    """Units' progress on stderr: one plain line per event when stderr is not a terminal
    (a CI log), a status line rewritten in place between events when it is; nothing with
    --quiet."""

    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._status_shown = False

    def __call__(self, state: ProgressState) -> None:
        if self.quiet:
            return
        status = _status(state)
        if state.event == "tick":
            if self.live:
                self._rewrite(status)
            return
        self._clear()
        detail = f" ({state.detail})" if state.detail else ""
        self.stream.write(one_line(f"[{status}] {state.event} {state.label}{detail}") + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if not self.quiet:
            self._clear()

    def _rewrite(self, status: str) -> None:
        self.stream.write("\r\x1b[2K" + status)
        self.stream.flush()
        self._status_shown = True

    def _clear(self) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False


def _status(state: ProgressState) -> str:
    eta = "ETA --" if state.eta_seconds is None else f"ETA {_clock(state.eta_seconds)}"
    return f"{state.done}/{state.total} done, {state.running} running, {state.failed} failed, {eta}"


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return (f"{hours}:" if hours else "") + f"{rest // 60:02d}:{rest % 60:02d}"
