"""What a fuzz run found, in a few lines: the exit-code distribution, exit 3s, hangs,
leftovers, the slowest case, the largest RSS, and the failing cases grouped by class and
first stderr line, each group with one command line to replay."""

from __future__ import annotations

import shlex
from collections import Counter, defaultdict
from collections.abc import Sequence

from tests.fuzz.case import Case
from tests.fuzz.runner import Outcome, problems

__all__ = ["failures", "short_argv", "summarise"]

Result = tuple[Case, Outcome]


def failures(results: Sequence[Result]) -> list[tuple[Case, Outcome, list[str]]]:
    """The cases that broke an invariant, with what they broke."""
    found = []
    for case, outcome in results:
        broken = problems(case, outcome)
        if broken:
            found.append((case, outcome, broken))
    return found


def summarise(results: Sequence[Result], *, examples: int = 1) -> str:
    """The run as text; EXAMPLES replayable command lines per group of failures."""
    outcomes = [outcome for _, outcome in results]
    if not outcomes:
        return "no cases ran"
    codes = Counter(_code(outcome) for outcome in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    largest = max(outcomes, key=lambda o: o.peak_rss)
    failed = failures(results)
    lines = [
        f"{len(outcomes)} cases, {len(failed)} breaking an invariant",
        "exit codes: " + ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())),
        f"exit 3: {codes.get('3', 0)}; hangs: {sum(o.timed_out for o in outcomes)}; "
        f"leftovers: {sum(bool(o.leftovers) for o in outcomes)}; "
        f"lost inputs: {sum(bool(o.lost) for o in outcomes)}",
        f"slowest: {slowest.seconds:.1f} s, #{slowest.index} {slowest.name}",
        f"largest RSS: {largest.peak_rss / 2**20:.0f} MiB, #{largest.index} {largest.name}",
        f"written by the harness: {sum(o.written_bytes for o in outcomes) / 1e6:.1f} MB; "
        f"inputs: {sum(c.input_bytes for c, _ in results) / 1e6:.1f} MB",
    ]
    return "\n".join(lines + _groups(failed, examples))


def _code(outcome: Outcome) -> str:
    if outcome.timed_out:
        return "hang"
    if outcome.rss_killed:
        return "rss-killed"
    if outcome.signal is not None:
        return f"signal {outcome.signal}"
    return str(outcome.code)


def _groups(failed: list[tuple[Case, Outcome, list[str]]], examples: int) -> list[str]:
    """Failures grouped by (class, what broke, first stderr line)."""
    groups: dict[tuple[str, str, str], list[tuple[Case, Outcome]]] = defaultdict(list)
    for case, outcome, broken in failed:
        first = outcome.stderr[0][:160] if outcome.stderr else "(no stderr)"
        groups[(case.klass, "; ".join(_kind(p) for p in broken), first)].append((case, outcome))
    lines = []
    for (klass, broken, first), members in sorted(groups.items()):
        lines.append(f"[{klass}] x{len(members)}: {broken}\n    stderr: {first}")
        for case, _ in members[:examples]:
            lines.append(f"    #{case.index} {case.name}: harness {short_argv(case.argv)}")
    return lines


def _kind(problem: str) -> str:
    # "leftover: out/x" and "leftover: out/y" are one kind of failure.
    return problem.split(":")[0] if problem.startswith(("leftover", "lost", "missing")) else problem


def short_argv(argv: tuple[str, ...]) -> str:
    """ARGV for a shell: long values cut (so not exact), control characters as bash's
    $'...' escapes (exact)."""
    return " ".join(
        _shell_word(arg if len(arg) <= 80 else f"{arg[:40]}...({len(arg)} chars)") for arg in argv
    )


def _shell_word(arg: str) -> str:
    if arg.isprintable():
        return shlex.quote(arg)
    escaped = arg.encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return f"$'{escaped}'"
