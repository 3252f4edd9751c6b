"""The bounded fuzz run: the first 300 cases of seed 14 (every class of hostile input in
tests/fuzz/generate.py) through ``harness.cli.main``, each in a worker process with a
30 s timeout and a 6 GiB RSS watchdog.

Invariants, one test each: an exit code the case allows (never 3, never a signal), one
stderr line on exit 2 and none on a quiet success, nothing left on disk and no input lost,
a peak RSS under RSS_LIMIT, no hang. The summary (exit codes, the slowest case, the largest
RSS, the failures grouped by class and first stderr line) prints with ``-s`` and with any
failure. One worker (the other core stays with the rest of the suite): about 35 s on 2
idle cores, a minute on a loaded machine, plus the timeout for each case that hangs.
``python -m benchmarks.fuzz_cli`` runs thousands.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fuzz.case import Case
from tests.fuzz.generate import BOUNDED_COUNT, BOUNDED_SEED, cases
from tests.fuzz.runner import Outcome, Pool, problems
from tests.fuzz.summary import summarise

WORKERS = 1
Results = list[tuple[Case, Outcome]]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    root = tmp_path_factory.mktemp("fuzz")
    with Pool(WORKERS, root) as pool:
        found = sorted(
            pool.run(cases(BOUNDED_SEED, BOUNDED_COUNT)), key=lambda result: result[0].index
        )
    print("\n" + summarise(found))
    return found


def _breaches(results: Results, matches: Callable[[str], bool]) -> list[str]:
    """'#index name: problem | argv | stderr' for each problem MATCHES accepts."""
    return [
        f"#{case.index} {case.name}: {problem} | argv {case.argv[:4]} | stderr {outcome.stderr[:1]}"
        for case, outcome in results
        for problem in problems(case, outcome)
        if matches(problem)
    ]


def _assert_none(results: Results, matches: Callable[[str], bool]) -> None:
    breaches = _breaches(results, matches)
    assert not breaches, (
        f"{len(breaches)} breaches:\n" + "\n".join(breaches[:40]) + ("\n\n" + summarise(results))
    )


def _starts(*kinds: str) -> Callable[[str], bool]:
    return lambda problem: problem.startswith(kinds)


def test_all_cases_ran(results):
    assert [case.index for case, _ in results] == list(range(BOUNDED_COUNT))


def test_no_internal_error_no_signal_and_the_expected_answer(results):
    _assert_none(results, _starts("exit", "killed by signal", "escaped main"))


def test_one_stderr_line_on_failure_none_on_a_quiet_success(results):
    _assert_none(results, lambda problem: "stderr" in problem)


def test_nothing_left_on_disk_and_nothing_lost(results):
    _assert_none(results, _starts("leftover", "lost input", "missing output"))


def test_peak_rss_stays_bounded(results):
    _assert_none(results, _starts("peak RSS", "RSS past"))


def test_no_case_hangs(results):
    _assert_none(results, _starts("hang"))
