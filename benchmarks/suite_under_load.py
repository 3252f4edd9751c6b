"""The test suite with every core busy: proof that no test depends on how idle the machine is.

    python -m benchmarks.suite_under_load [--hogs N] [-- PYTEST ARGS...]

Starts N CPU hogs (``python -c "while True: pass"``, default one per core), runs
``python -m pytest -q`` (plus any arguments after ``--``) beside them, stops the hogs
whatever happens, and prints the suite's exit code, its wall time and the load average it
ran under. Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

HOG = "while True: pass"


@contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    """COUNT busy processes for the duration of the block, stopped whatever happens."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def main(argv: list[str] | None = None) -> int:
    args, pytest_args = _parser().parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]
    started = time.perf_counter()
    with cpu_hogs(args.hogs):
        suite = subprocess.run([sys.executable, "-m", "pytest", "-q", *pytest_args], check=False)
        load = os.getloadavg()
    wall = time.perf_counter() - started
    print(
        f"suite exit {suite.returncode} in {wall:.0f} s beside {args.hogs} CPU hog(s) "
        f"on {os.cpu_count()} cores; load average at the end {load[0]:.1f} (1 min), "
        f"{load[1]:.1f} (5 min)"
    )
    return suite.returncode


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hogs", type=int, default=os.cpu_count() or 2, help="busy processes (one per core)"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
