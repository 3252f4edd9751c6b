"""``python -m harness audit MODEL``: settings from flags and config, the pipeline, one line
per file written, the verdict as the last stderr line (even with --quiet: it is the answer),
and exit 1 when a stage failed (3 when it failed on a bug in the harness) or when the
verdict fails under ``--fail-on``."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.commands.outcome import one_line
from harness.core.errors import ExitCode, UsageError, shorten
from harness.core.verdict import FailOn, fails_under, verdict_line

if TYPE_CHECKING:
    from harness.commands.terminal import Terminal
    from harness.core.result import AuditResult

__all__ = ["command_line", "run"]

# Flags that only mean something for a dataset's explanations in work units.
_SCALE_FLAGS = ("executor", "workers", "ray_address", "store", "shard_size", "retries")


def run(args: argparse.Namespace) -> int:
    """Audit ``args.model`` as the flags (over the config file) ask."""
    from harness.commands.terminal import Terminal
    from harness.core.config import resolve_config
    from harness.pipeline import audit
    from harness.reports.vocabulary import load_vocabulary

    config_file = Path(args.config) if args.config else None
    if getattr(args, "samples", None) == "all":
        return _audit_dataset(args, config_file)
    given = [f for f in _SCALE_FLAGS if getattr(args, f, None) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(
            f"{flag} runs a dataset's explanations in work units: add --samples all (or use "
            "audit-many for several models)"
        )
    config = resolve_config(args.model, _flag_settings(args), config_file, Path.cwd())
    # A bad --vocab is refused now, not after minutes of measuring.
    vocabulary = load_vocabulary(Path(args.vocab)) if getattr(args, "vocab", None) else None
    terminal = Terminal(quiet=config.quiet)
    try:
        result, out = audit(
            config,
            terminal.progress,
            command=command_line(args.argv),
            vocabulary=vocabulary,
            stage_progress=terminal.stage_progress,
        )
    except KeyboardInterrupt as exc:
        # The output appears in one swap that signals cannot split; the pipeline notes on
        # the exception when the swap was done before the signal took effect.
        if not getattr(exc, "__notes__", None):
            exc.add_note("nothing was written")
        raise
    try:
        return _report(result, out, terminal, config.fail_on)
    except KeyboardInterrupt as exc:
        exc.add_note(f"'{shorten(str(out))}' was written completely")
        raise


def _report(result: AuditResult, out: Path, terminal: Terminal, fail_on: FailOn) -> int:
    """Say what was written, what failed and the verdict (last); the exit code."""
    for warning in result.inputs.warnings:
        terminal.warn(warning)
    print(f"wrote {out / 'report.html'} and {out / 'result.json'}")
    failed = result.failed_stages()
    if failed:
        terminal.warn(f"stage(s) failed: {', '.join(failed)} (see the report)")
    if result.verdict is not None:
        print(one_line(verdict_line(result.verdict)), file=sys.stderr)
    return _exit_code(result, failed, fail_on)


def _exit_code(result: AuditResult, failed: tuple[str, ...], fail_on: FailOn) -> int:
    """3 for a stage that failed on a bug, 1 for any other failed stage (whatever
    --fail-on: a stage that failed is not a finding to tolerate), 1 for a verdict that
    fails under --fail-on, else 0."""
    from harness.stages.runner import is_internal_failure

    # A stage that raised a bug failed alone (its section says so), but CI must still see
    # a bug: exit 3, with the result written.
    if any(is_internal_failure(result.stage(name)) for name in failed):
        return ExitCode.INTERNAL
    if failed or fails_under(result.verdict, fail_on):
        return ExitCode.CHECK_FAILED
    return ExitCode.OK


def _audit_dataset(args: argparse.Namespace, config_file: Path | None) -> int:
    """``--samples all``: every sample of --data (or of the model's task) explained in
    shard x method work units (harness.scale), resumable from their store."""
    from dataclasses import replace

    from harness.commands.audit_many import (
        UnitProgress,
        execution_from_args,
        print_failures,
        reproducible_command,
        run_line,
    )
    from harness.commands.terminal import Terminal
    from harness.core.config import resolve_config
    from harness.scale.plan import (
        DEFAULT_RETRIES,
        DEFAULT_SHARD_SIZE,
        check_retries,
        check_shard_size,
        single_model_plan,
    )
    from harness.scale.scaled import audit_dataset

    config = resolve_config(args.model, _flag_settings(args), config_file, Path.cwd())
    if "explanations" in config.skip:
        raise UsageError("--samples all explains a dataset; drop --skip explanations")
    shard_size = args.shard_size if args.shard_size is not None else DEFAULT_SHARD_SIZE
    retries = args.retries if args.retries is not None else DEFAULT_RETRIES
    check_shard_size(shard_size, "--shard-size")
    check_retries(retries, "--retries")
    plan = single_model_plan(replace(config, samples=None), shard_size, retries)
    terminal = Terminal(quiet=config.quiet)
    progress = UnitProgress(quiet=config.quiet)
    outcome = audit_dataset(
        plan,
        config.out_dir,
        config.force,
        Path(args.store) if args.store else None,
        execution_from_args(args),
        progress,
        command=reproducible_command(args.argv),
    )
    progress.finish()
    if not config.quiet:
        print(one_line(run_line(outcome)), file=sys.stderr)
    print_failures(outcome)  # before the verdict, which stays the last line
    result = outcome.aggregates[0].result
    if result is None:
        return ExitCode.PARTIAL
    code = _report(result, outcome.out, terminal, config.fail_on)
    if code == ExitCode.INTERNAL or not outcome.partial:
        return code
    return ExitCode.PARTIAL


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, as settings (those not given left out)."""
    from harness.core.config import settings_from_flags

    return settings_from_flags(
        out=args.out,
        shape=args.shape,
        data=args.data,
        members=args.members,
        nonmembers=args.nonmembers,
        value=args.value,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        budget=args.budget,
        backend=args.backend,
        explainers=args.explainers,
        samples=args.samples if args.samples != "all" else None,
        target=args.target,
        skip=args.skip,
        quiet=args.quiet,
        force=args.force,
        max_input_bytes=args.max_input_bytes,
        fail_on=args.fail_on,
    )


def command_line(argv: Sequence[str]) -> str:
    """The command as a user would type it again, whatever launched it (the ``harness``
    script or ``python -m harness``)."""
    return shlex.join(["python", "-m", "harness", *argv])
