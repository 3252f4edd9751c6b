"""A long fuzz run of the CLI: thousands of hostile inputs, each case in a subprocess.

    python -m benchmarks.fuzz_cli --cases 2000 --seed 1 [--workers 2] [--fresh]

(from the repository root.) The cases come from ``tests/fuzz/generate.py`` (the bounded
run in the test suite is the first 300 of seed 14); each runs in a worker process through
``harness.cli.main`` (``--fresh``: as a new ``python -m harness`` process per case,
seconds each, real signals and the real argv). It prints the exit-code distribution, the
exit 3s, hangs (cases past ``--timeout``), leftovers, the slowest case, the largest RSS,
and the failing cases grouped by class and first stderr line, each with a command line to
replay (``--replay INDEX`` runs one case again and prints its outcome). Exits 1 when any
case broke an invariant (tests/fuzz/runner.py, ``problems``).

About 0.15 s per case with one worker on a shared 2-core machine (1500 cases in 215 s,
a few running the explanations stage for seconds, each hang costing the timeout); the
inputs take about 0.2 MB per case on disk, written and deleted case by case.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.generate import case_at, cases
from tests.fuzz.runner import CASE_TIMEOUT, Pool, execute_fresh, problems
from tests.fuzz.summary import short_argv, summarise


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="harness-fuzz-") as folder:
        root = Path(folder)
        if args.replay is not None:
            return _replay(args, root)
        started = time.monotonic()
        results = _run(args, root)
    print(summarise(results, examples=args.examples))
    print(f"{time.monotonic() - started:.0f} s with {args.workers} worker(s)")
    return 1 if any(problems(case, outcome) for case, outcome in results) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="how many cases (2000)")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed (1)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--timeout", type=float, default=CASE_TIMEOUT, help="seconds before a case is a hang"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="each case in a new python -m harness process"
    )
    parser.add_argument("--examples", type=int, default=3, help="command lines per failure")
    parser.add_argument("--replay", type=int, metavar="INDEX", help="run one case, verbosely")
    return parser


def _run(args: argparse.Namespace, root: Path) -> list:
    results = []
    if args.fresh:
        from concurrent.futures import ThreadPoolExecutor

        def one(case):
            return case, execute_fresh(case, root, args.timeout)

        with ThreadPoolExecutor(args.workers) as threads:
            source = cases(args.seed, args.cases)
            for done, result in enumerate(threads.map(one, source), 1):
                results.append(result)
                _progress(done, args.cases)
        return results
    with Pool(args.workers, root, timeout=args.timeout) as pool:
        for done, result in enumerate(pool.run(cases(args.seed, args.cases)), 1):
            results.append(result)
            _progress(done, args.cases)
    return results


def _progress(done: int, total: int) -> None:
    if done % 100 == 0 or done == total:
        print(f"{done}/{total}", file=sys.stderr, flush=True)


def _replay(args: argparse.Namespace, root: Path) -> int:
    case = case_at(args.seed, args.replay)
    outcome = execute_fresh(case, root, args.timeout)
    print(f"#{case.index} {case.name}\nharness {short_argv(case.argv)}\nexit: {outcome.code}")
    print("stderr:\n  " + "\n  ".join(outcome.stderr))
    broken = problems(case, outcome)
    print("problems: " + ("; ".join(broken) if broken else "none"))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
