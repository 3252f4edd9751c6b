"""``python -m harness gate``: the gate command's glue around the judge (``harness.gate``).

The judge only reads results and decides. With ``--ab`` this command measures both models
first (``harness.stages.efficiency.ab``), after the judge has checked every flag, and hands
it the two metric sets; then it writes the Markdown and JUnit files asked for and prints
the table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from harness.gate.gate import GateRequest, GateResult, Measurement, judge, plan_gate

__all__ = ["run"]

Progress = Callable[[str, str, str], None]  # (step, event, detail), as the audit reports it


def run(args: argparse.Namespace) -> int:
    """Run ``harness gate`` as ARGS ask; the exit code is the verdict's."""
    from harness.commands.terminal import Terminal

    request = _request(args)
    plan = plan_gate(request)
    progress = Terminal(quiet=args.quiet).progress
    measurement = _measure_ab(request, progress) if request.ab else None
    gate = judge(plan, measurement)
    _write_reports(gate, args)
    _print_table(gate)
    return gate.exit_code


def _request(args: argparse.Namespace) -> GateRequest:
    from harness.core.config import check_threads

    if args.ab and args.threads is not None:
        check_threads(args.threads)  # the audit's bound: --ab's sessions take as many
    return GateRequest(
        base=Path(args.base),
        current=Path(args.current),
        checks=tuple(args.check or ()),
        policy=Path(args.policy) if args.policy else None,
        run=args.run,
        alpha=args.alpha,
        inconclusive=args.inconclusive,
        strict_env=args.strict_env,
        ab=args.ab,
        budget=args.budget,
        threads=args.threads,
        allow_different_models=getattr(args, "allow_different_models", False),
    )


def _measure_ab(request: GateRequest, progress: Progress) -> Measurement:
    """Both models timed now, interleaved; PROGRESS hears of each step."""
    from harness.stages.efficiency.ab import measure_ab

    measured = measure_ab(
        request.base,
        request.current,
        budget=request.budget or "standard",
        threads=request.threads,
        progress=progress,
    )
    return Measurement(measured.base, measured.candidate, measured.description)


def _write_reports(gate: GateResult, args: argparse.Namespace) -> None:
    from harness.gate.report import write_junit, write_markdown

    if args.markdown:
        write_markdown(gate, Path(args.markdown))
    if args.junit:
        write_junit(gate, Path(args.junit))


def _print_table(gate: GateResult) -> None:
    from rich.console import Console

    from harness.gate.report import terminal

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a CI log: no terminal to wrap for
    console.print(terminal(gate))
