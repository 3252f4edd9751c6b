"""``python -m harness audit MODEL``: settings from flags and config, the pipeline, one line
per file written, and exit 1 when a stage failed."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import ExitCode

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Audit ``args.model`` as the flags (over the config file) ask."""
    from harness.commands.terminal import Terminal
    from harness.core.config import resolve_config
    from harness.pipeline import audit

    config_file = Path(args.config) if args.config else None
    config = resolve_config(args.model, _flag_settings(args), config_file, Path.cwd())
    terminal = Terminal(quiet=config.quiet)
    result, out = audit(config, terminal.progress, command=_command_line(args.argv))
    for warning in result.inputs.warnings:
        terminal.warn(warning)
    print(f"wrote {out / 'report.html'} and {out / 'result.json'}")
    failed = result.failed_stages()
    if failed:
        terminal.warn(f"stage(s) failed: {', '.join(failed)} (see the report)")
        return ExitCode.CHECK_FAILED
    return ExitCode.OK


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, as settings (those not given left out)."""
    from harness.core.config import settings_from_flags

    return settings_from_flags(
        out=args.out,
        shape=args.shape,
        data=args.data,
        value=args.value,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        budget=args.budget,
        backend=args.backend,
        explainers=args.explainers,
        samples=args.samples,
        target=args.target,
        skip=args.skip,
        quiet=args.quiet,
        force=args.force,
    )


def _command_line(argv: Sequence[str]) -> str:
    """The command as a user would type it again, whatever launched it (the ``harness``
    script or ``python -m harness``)."""
    return shlex.join(["python", "-m", "harness", *argv])
