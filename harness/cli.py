"""``python -m harness``: a thin command line over the library.

It parses flags, hands them to the command's module (``harness.commands.<command>.run``)
and maps the harness's errors to one line and an exit code. It imports nothing heavy, nor
the command, until a command runs, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from harness._version import __version__
from harness.commands.logs import configure_logging
from harness.commands.outcome import (
    environment_cause,
    fail,
    interrupted,
    one_line,
    termination_as_interrupt,
)
from harness.core.config import (
    BACKENDS,
    BUDGETS,
    DEVICES,
    FAIL_ON,
    MAX_SAMPLES,
    STAGE_NAMES,
    THREADS_PER_CPU,
)
from harness.core.errors import ExitCode, HarnessError, first_line

# The executors of harness.scale.executors, spelled here so that --help imports nothing.
EXECUTORS = ("inline", "process", "ray")

__all__ = ["main"]

EXIT_CODES = """\
exit codes:
  0  audit completed
  1  audit: a stage failed or the verdict fails under --fail-on; gate: a check failed
  2  bad usage or bad input (missing or corrupt model, unresolvable input, bad --data
     or --members/--nonmembers),
     or what the machine lacks (memory, disk space, permission to write --out)
  3  internal error (a bug in the harness: please report it with --debug output)
  4  gate: inconclusive (too few samples or too much noise to decide; see --inconclusive)
  5  audit-many, audit --samples all: partial (a work unit failed every attempt)
"""

# Each subcommand's --help lists only the exit codes it can return.
_BAD_INPUT = "  2  bad usage or bad input, or what the machine lacks (memory, disk, permission)\n"
_BUG = "  3  internal error (a bug in the harness: please report it with --debug output)\n"
COMMAND_EXIT_CODES = {
    "audit": "exit codes:\n"
    "  0  audit completed; its verdict does not fail under --fail-on\n"
    "  1  a stage failed, or the verdict fails under --fail-on (default: verdict fail or\n"
    "     incomplete; --fail-on warn: pass with warnings too; never: only a failed stage)\n"
    + _BAD_INPUT
    + _BUG,
    "report": "exit codes:\n  0  report written\n" + _BAD_INPUT + _BUG,
    "compare": "exit codes:\n  0  comparison written, whatever changed\n" + _BAD_INPUT + _BUG,
    "audit-many": "exit codes:\n"
    "  0  every work unit finished; no model's verdict fails under its fail_on\n"
    "  1  a stage failed, or a model's verdict fails under its fail_on\n"
    + _BAD_INPUT
    + _BUG
    + "  5  partial: a work unit failed every attempt (named on stderr); rerun the same\n"
    "     command to run only the missing units\n",
    "gate": "exit codes:\n"
    "  0  no check regressed\n"
    "  1  a check regressed (or, with --strict-env, the environments differ)\n"
    + _BAD_INPUT
    + _BUG
    + "  4  inconclusive: too few samples or too much noise to decide (see --inconclusive)\n",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> NoReturn:
        line = one_line(f"{self.prog}: error: {message} (see --help)")
        self.exit(ExitCode.USAGE, line + "\n")


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
    _add_audit_many(commands)
    _add_report(commands)
    _add_compare(commands)
    _add_gate(commands)
    return parser


def _add_command(commands: Any, name: str, *, help: str, description: str) -> _Parser:
    """A subcommand's parser, with its own exit codes under its options."""
    parser: _Parser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=COMMAND_EXIT_CODES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_debug(parser: argparse.ArgumentParser) -> None:
    """--debug, last among each command's options: main() shows tracebacks with it."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_audit(commands: Any) -> None:
    audit = _add_command(
        commands,
        "audit",
        help="audit a model and write report.html + result.json",
        description="Audit MODEL: an .onnx file, ref:NAME (a bundled reference model) or "
        "package.module:factory (a callable returning a torch.nn.Module).",
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
        "--members",
        metavar="FILE",
        help="privacy stage: .npz of records in the training set (inputs by name, optional "
        "'labels'); with --nonmembers",
    )
    audit.add_argument(
        "--nonmembers",
        metavar="FILE",
        help="privacy stage: .npz of records never trained on, same keys as --members",
    )
    audit.add_argument(
        "--value",
        action="append",
        metavar="NAME=V",
        help="fill an input with a constant (scalars, recurrent state); repeatable",
    )
    audit.add_argument(
        "--max-input-bytes",
        metavar="SIZE",
        help="refuse inputs (and --data) larger than SIZE in all, before allocating them: "
        "bytes, or e.g. 512MiB, 8GiB (default 2GiB)",
    )
    audit.add_argument("--device", choices=DEVICES, help="default auto: CUDA when usable")
    audit.add_argument("--seed", type=int, metavar="N", help="seed of synthetic inputs (0)")
    audit.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help=f"runtime threads, 1 to {THREADS_PER_CPU} per logical CPU (default all cores)",
    )
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
        "--samples",
        type=_samples,
        metavar="N|all",
        help=f"samples to explain, 1 to {MAX_SAMPLES} (default by budget); all: every sample "
        "of --data (or of the model's task), in shard x method work units",
    )
    audit.add_argument(
        "--target",
        metavar="K|FORM",
        help="what to attribute: output index K, or predicted, norm, cosine, region, sequence, "
        "detection (default: by the output's kind)",
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
    audit.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        help="which verdicts exit 1: fail (default: verdict fail or incomplete), warn (also "
        "pass with warnings), never (findings never exit 1; a failed stage still does)",
    )
    audit.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on stderr (the verdict line is still printed last)",
    )
    audit.add_argument("--force", action="store_true", help="replace an existing --out")
    _add_vocab(audit)
    _add_scale_options(audit, "--samples all: ")
    audit.add_argument(
        "--shard-size", type=int, metavar="N", help="--samples all: samples per work unit (32)"
    )
    _add_debug(audit)


def _samples(text: str) -> int | str:
    """--samples N or all (N is range-checked with the config file's value)."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}") from None


def _add_scale_options(parser: argparse.ArgumentParser, prefix: str) -> None:
    """Where work units run (harness.scale): the same flags for audit-many and audit."""
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        help=f"{prefix}run work units inline (default), in a process pool, or on Ray",
    )
    parser.add_argument("--workers", type=int, metavar="N", help=f"{prefix}units run at once (1)")
    parser.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help=f"{prefix}an existing Ray cluster (or 'auto'); default: start a local one",
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        help=f"{prefix}where finished units are kept (default OUT.units); a rerun resumes",
    )
    parser.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help=f"{prefix}further attempts of a unit that crashes, 0 to 10 (2)",
    )


def _add_audit_many(commands: Any) -> None:
    many = _add_command(
        commands,
        "audit-many",
        help="audit every model of a TOML plan as work units (inline, processes or Ray)",
        description="Audit the models of PLAN (a TOML file: [[models]] tables with their\n"
        "settings; see README 'Scale-out') as deterministic work units, kept in a store so\n"
        "that a stopped run resumes, into OUT/summary.html and OUT/models/NAME/.",
    )
    many.add_argument("plan", metavar="PLAN")
    many.add_argument(
        "--out", metavar="DIR", help="output folder (default ./audit-many-<plan stem>/)"
    )
    _add_scale_options(many, "")
    many.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_debug(many)


def _add_report(commands: Any) -> None:
    report = _add_command(
        commands,
        "report",
        help="re-render report.html from a result.json alone (no model needed)",
        description="Re-render the HTML report from RESULT (a result.json), upgrading "
        "results of older schema versions first.",
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
    _add_vocab(report)
    _add_debug(report)


def _add_vocab(parser: Any) -> None:
    parser.add_argument(
        "--vocab",
        metavar="FILE",
        help="show token ids as strings in the report: a vocab.txt (one token per line, "
        "line number = id) or a tokenizer.json (default: ids with their positions)",
    )


def _add_gate(commands: Any) -> None:
    gate = _add_command(
        commands,
        "gate",
        help="fail CI when CURRENT is significantly worse than BASE (exit 1, or 4: inconclusive)",
        description="Judge CURRENT against BASE: two result.json files, or with --ab two\n"
        ".onnx files measured now, interleaved. A check regresses when its change passes\n"
        "the threshold AND is significant (Holm-adjusted across checks).\n\n"
        "A check is NAME[@RUN]:THRESHOLD: latency.p50:5%, throughput.max:-5%,\n"
        "explanations.*.sanity:0.1, latency.p99@torch:20%. Without --check or --policy:\n"
        "latency.p50:30%, memory.peak_inference:10% (those both results hold; two audits\n"
        "drift apart by several percent, their tails and throughput by far more), and with\n"
        "--ab latency.p50:5%, latency.p90:10%. Shared CI runners: prefer --ab. Results of\n"
        "different models are refused (exit 2) unless --allow-different-models.",
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
    gate.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help=f"--ab: runtime threads, 1 to {THREADS_PER_CPU} per logical CPU (all)",
    )
    gate.add_argument("--quiet", action="store_true", help="--ab: no progress on stderr")
    _add_allow_different_models(gate)
    _add_debug(gate)


def _add_compare(commands: Any) -> None:
    compare = _add_command(
        commands,
        "compare",
        help="compare two audits' result.json files in one HTML page (no models needed)",
        description="Compare A (the base) and B (the current), two result.json files: "
        "the gate's default checks judged by the gate itself (the other headline metrics "
        "shown for context), findings new and resolved, attribution agreement, environment "
        "differences. Exits 0 whatever changed (2 for results of different models, unless "
        "--allow-different-models); use 'harness gate' to fail a build.",
    )
    compare.add_argument("base", metavar="A")
    compare.add_argument("current", metavar="B")
    compare.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default: diff.html beside B)"
    )
    _add_allow_different_models(compare)
    _add_debug(compare)


def _add_allow_different_models(command: Any) -> None:
    command.add_argument(
        "--allow-different-models",
        action="store_true",
        help="judge results of two different models (another file hash, and another name, "
        "inputs or graph) instead of refusing with exit 2; every verdict line says so",
    )


def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command through ``harness.commands.<command>.run``, imported only now
    so that ``--help`` and ``--version`` import nothing heavy."""
    code: int = _command_module(args.command).run(args)
    return code


def _command_module(name: str) -> ModuleType:
    # Spelled out rather than importlib.import_module(f"harness.commands.{name}") so that
    # import-linter sees each cli -> commands dependency.
    if name == "audit":
        from harness.commands import audit

        return audit
    if name == "audit-many":
        from harness.commands import audit_many

        return audit_many
    if name == "report":
        from harness.commands import report

        return report
    if name == "compare":
        from harness.commands import compare

        return compare
    from harness.commands import gate

    return gate


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    args.argv = arguments
    debug = getattr(args, "debug", False)
    configure_logging(getattr(args, "quiet", False), debug)
    try:
        with termination_as_interrupt():
            return _run_command(args)
    except HarnessError as exc:
        return fail(f"{type(exc).__name__}: {exc}", exc.exit_code, debug)
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except Exception as exc:
        cause = environment_cause(exc)
        if cause is not None:
            return fail(f"{type(exc).__name__}: {cause}", ExitCode.USAGE, debug)
        return fail(
            f"InternalError: {type(exc).__name__}: {first_line(exc)} "
            "(a bug in the harness; rerun with --debug and report the traceback)",
            ExitCode.INTERNAL,
            debug,
        )
