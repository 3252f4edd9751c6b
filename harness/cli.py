"""``python -m harness``: a thin command line over the library.

It parses flags, calls the pipeline, prints progress on stderr and maps the harness's
errors to one line and an exit code. It imports nothing heavy until a command runs, so
``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness._version import __version__
from harness.core.config import BACKENDS, BUDGETS, DEVICES, STAGE_NAMES
from harness.core.errors import ExitCode, HarnessError, first_line

__all__ = ["main"]

EXIT_CODES = """\
exit codes:
  0  audit completed
  1  audit completed and a check or a stage failed
  2  bad usage or bad input (missing or corrupt model, unresolvable input, bad --data)
  3  internal error (a bug in the harness: please report it with --debug output)
  4  gate: inconclusive (too few samples or too much noise to decide; see --inconclusive)
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="Audit a model before it ships: efficiency, explanations, attention.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_audit(commands)
    _add_report(commands)
    _add_compare(commands)
    _add_gate(commands)
    return parser


def _add_audit(commands: Any) -> None:
    audit = commands.add_parser(
        "audit",
        help="audit a model and write report.html + result.json",
        description="Audit MODEL: an .onnx file, ref:NAME (a bundled reference model) or "
        "package.module:factory (a callable returning a torch.nn.Module).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("model", metavar="MODEL")
    audit.add_argument("--out", metavar="DIR", help="output folder (default ./audit-<stem>/)")
    audit.add_argument(
        "--shape",
        action="append",
        metavar="NAME=DIMS",
        help="an input's shape, e.g. input_ids=1x128 (optionally :DTYPE); repeatable",
    )
    audit.add_argument(
        "--data", metavar="FILE", help=".npz keyed by input name, or .npy for one input"
    )
    audit.add_argument(
        "--value",
        action="append",
        metavar="NAME=V",
        help="fill an input with a constant (scalars, recurrent state); repeatable",
    )
    audit.add_argument("--device", choices=DEVICES, help="default auto: CUDA when usable")
    audit.add_argument("--seed", type=int, metavar="N", help="seed of synthetic inputs (0)")
    audit.add_argument("--threads", type=int, metavar="N", help="runtime threads (default all)")
    audit.add_argument("--budget", choices=BUDGETS, help="time the audit may spend (standard)")
    audit.add_argument(
        "--backend",
        choices=BACKENDS,
        help="runtimes to measure: auto (the model's own), onnxruntime, torch (an ONNX file "
        "through onnx2torch), all",
    )
    audit.add_argument(
        "--explainers",
        metavar="A,B,C",
        help="attribution methods, e.g. saliency,occlusion (default: the budget's set)",
    )
    audit.add_argument(
        "--samples", type=int, metavar="N", help="samples to explain (default by budget)"
    )
    audit.add_argument(
        "--target", type=int, metavar="K", help="output index to attribute (default: predicted)"
    )
    audit.add_argument(
        "--skip",
        action="append",
        choices=STAGE_NAMES,
        metavar="STAGE",
        help=f"skip a stage: {', '.join(STAGE_NAMES)}; repeatable",
    )
    audit.add_argument(
        "--config",
        metavar="FILE",
        help="TOML settings (default: "
        "[tool.harness] of the nearest pyproject.toml); flags override it",
    )
    audit.add_argument("--quiet", action="store_true", help="no progress on stderr")
    audit.add_argument("--force", action="store_true", help="replace an existing --out")
    audit.add_argument("--debug", action="store_true", help="show tracebacks")
    audit.set_defaults(handler=_run_audit)


def _add_report(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="re-render report.html from a result.json alone (no model needed)",
        description="Re-render the HTML report from RESULT (a result.json), upgrading "
        "results of older schema versions first.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("result", metavar="RESULT")
    report.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default: report.html beside RESULT)"
    )
    report.add_argument(
        "--config",
        metavar="FILE",
        help="judge the findings by this TOML file's findings thresholds instead of the "
        "audit's own",
    )
    report.add_argument("--debug", action="store_true", help="show tracebacks")
    report.set_defaults(handler=_run_report)


def _add_gate(commands: Any) -> None:
    gate = commands.add_parser(
        "gate",
        help="fail CI when CURRENT is significantly worse than BASE (exit 1, or 4: inconclusive)",
        description="Judge CURRENT against BASE: two result.json files, or with --ab two\n"
        ".onnx files measured now, interleaved. A check regresses when its change passes\n"
        "the threshold AND is significant (Holm-adjusted across checks).\n\n"
        "A check is NAME[@RUN]:THRESHOLD: latency.p50:5%, throughput.max:-5%,\n"
        "explanations.*.sanity:0.1, latency.p99@torch:20%. Without --check or --policy:\n"
        "latency.p50:10%, latency.p90:15%, throughput.max:-10%, memory.peak_inference:10%\n"
        "(those both results hold; two audits drift apart by several percent), and with\n"
        "--ab latency.p50:5%, latency.p90:10%. Shared CI runners: prefer --ab.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gate.add_argument("base", metavar="BASE", help="the reference result.json (or .onnx)")
    gate.add_argument("current", metavar="CURRENT", help="the result.json to judge (or .onnx)")
    gate.add_argument(
        "--check",
        action="append",
        metavar="NAME[@RUN]:THRESHOLD",
        help="a metric and how far it may move the bad way; repeatable, overrides --policy",
    )
    gate.add_argument("--policy", metavar="FILE", help="TOML policy: [checks], per-model checks")
    gate.add_argument(
        "--run", metavar="BACKEND[/DEVICE]", help="backend run to compare (default: the first)"
    )
    gate.add_argument(
        "--alpha", type=float, metavar="A", help="significance level, Holm-corrected (0.01)"
    )
    gate.add_argument(
        "--inconclusive",
        choices=("fail", "pass"),
        help="whether an inconclusive check fails with exit 4 (default fail)",
    )
    gate.add_argument(
        "--strict-env", action="store_true", help="fail (exit 1) when the environments differ"
    )
    gate.add_argument("--markdown", metavar="FILE", help="write a Markdown summary (job summary)")
    gate.add_argument("--junit", metavar="FILE", help="write JUnit XML, one testcase per check")
    gate.add_argument(
        "--ab", action="store_true", help="BASE and CURRENT are .onnx files: time both now"
    )
    gate.add_argument("--budget", choices=BUDGETS, help="--ab: how long to measure (standard)")
    gate.add_argument("--threads", type=int, metavar="N", help="--ab: runtime threads (all)")
    gate.add_argument("--quiet", action="store_true", help="--ab: no progress on stderr")
    gate.add_argument("--debug", action="store_true", help="show tracebacks")
    gate.set_defaults(handler=_run_gate)


def _run_gate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.gate.gate import GateRequest, run_gate
    from harness.gate.report import terminal, write_junit, write_markdown

    request = GateRequest(
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
    )
    gate = run_gate(request, _Terminal(quiet=args.quiet).progress)
    if args.markdown:
        write_markdown(gate, Path(args.markdown))
    if args.junit:
        write_junit(gate, Path(args.junit))
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a CI log: no terminal to wrap for
    console.print(terminal(gate))
    return gate.exit_code


def _add_compare(commands: Any) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare two audits' result.json files in one HTML page (no models needed)",
        description="Compare A (the base) and B (the current), two result.json files: "
        "every headline metric judged as the gate judges it at default thresholds, findings "
        "new and resolved, attribution agreement, environment differences. Exits 0 whatever "
        "changed; use 'harness gate' to fail a build.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("base", metavar="A")
    compare.add_argument("current", metavar="B")
    compare.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default: diff.html beside B)"
    )
    compare.add_argument("--debug", action="store_true", help="show tracebacks")
    compare.set_defaults(handler=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    from harness.commands.compare import compare

    output = Path(args.output) if args.output else None
    written = compare(Path(args.base), Path(args.current), output)
    print(f"wrote {written}")
    return ExitCode.OK


def _run_report(args: argparse.Namespace) -> int:
    from harness.commands.report import rerender

    written = rerender(
        Path(args.result),
        Path(args.output) if args.output else None,
        Path(args.config) if args.config else None,
    )
    print(f"wrote {written}")
    return ExitCode.OK


def _run_audit(args: argparse.Namespace) -> int:
    from harness.core.config import resolve_config, settings_from_flags
    from harness.pipeline import audit

    flags = settings_from_flags(
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
    config_file = Path(args.config) if args.config else None
    config = resolve_config(args.model, flags, config_file, Path.cwd())
    terminal = _Terminal(quiet=config.quiet)
    result, out = audit(config, terminal.progress, command=_command_line(args.argv))
    for warning in result.inputs.warnings:
        terminal.warn(warning)
    print(f"wrote {out / 'report.html'} and {out / 'result.json'}")
    failed = result.failed_stages()
    if failed:
        terminal.warn(f"stage(s) failed: {', '.join(failed)} (see the report)")
        return ExitCode.CHECK_FAILED
    return ExitCode.OK


def _command_line(argv: Sequence[str]) -> str:
    """The command as a user would type it again, whatever launched it (the ``harness``
    script or ``python -m harness``)."""
    import shlex

    return shlex.join(["python", "-m", "harness", *argv])


class _Terminal:
    """Progress and warnings on stderr, through rich when it is installed."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    def progress(self, step: str, event: str, detail: str) -> None:
        if self.quiet:
            return
        if event == "start":
            self.console.print(f"[bold]{step:>12}[/] {detail} ...", markup=True)
        else:
            self.console.print(f"[bold]{step:>12}[/] {detail}", markup=True)

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/] {_escape(message)}", markup=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    args.argv = arguments
    debug = getattr(args, "debug", False)
    try:
        code: int = args.handler(args)
        return code
    except HarnessError as exc:
        if debug:
            traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(
            f"InternalError: {type(exc).__name__}: {first_line(exc)} "
            "(a bug in the harness; rerun with --debug and report the traceback)",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)
