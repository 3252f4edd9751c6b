"""The fuzz runner sees each breach: a stand-in CLI (misbehaving_cli) breaks one invariant
per case, and ``problems`` must name it. Without these, a bounded run that finds nothing
could be a runner that looks at nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.case import Case
from tests.fuzz.runner import RSS_LIMIT, Outcome, Pool, problems

ENTRY = "tests.fuzz.misbehaving_cli:main"
TIMEOUT = 5.0  # the stand-in answers at once unless it is told to hang
RSS_KILL = 1 << 30


def _case(behaviour: str, index: int, **extra) -> Case:
    return Case(f"runner/{behaviour}", ("audit", behaviour, "--quiet"), index=index, **extra)


CASES = [
    _case("ok", 0, outputs=("out/result.json",), codes=frozenset({0})),
    _case("refuse", 1),
    _case("two-lines", 2),
    _case("leftover", 3),
    _case("temporary-file", 4),
    _case("lose-input", 5, files={"mine.txt": b"mine"}),
    _case("native-stderr", 6),
    _case("hang", 7),
    _case("signal", 8),
    _case("grow", 9),
    _case("allocate", 10),
    _case("escape", 11),
    _case("internal", 12),
    _case("refuse", 13, codes=frozenset({0})),
    _case("ok", 14, outputs=("out/result.json", "out/report.html")),
    _case("unnamed", 15),
    _case("long-line", 16),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Case, Outcome]]:
    root = tmp_path_factory.mktemp("fuzz-runner")
    with Pool(1, root, timeout=TIMEOUT, rss_kill=RSS_KILL, entry=ENTRY) as pool:
        found = {case.index: (case, outcome) for case, outcome in pool.run(CASES)}
    assert not list(root.glob("case-*")) and not list(root.glob("tmp-*"))  # cleaned up
    return found


def _problems(outcomes, index: int, rss_limit: int = RSS_LIMIT) -> list[str]:
    case, outcome = outcomes[index]
    return problems(case, outcome, rss_limit)


def test_a_clean_success_and_a_clean_refusal_pass(outcomes):
    assert _problems(outcomes, 0) == []
    assert _problems(outcomes, 1) == []
    _, outcome = outcomes[1]
    assert (outcome.code, outcome.stderr) == (2, ["UsageError: refused, as asked"])


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (2, "2 stderr lines on exit 2, not one"),
        (3, "leftover: .out.partial-1234"),
        (4, "leftover: $TMPDIR/stray.bin"),
        (5, "lost input: mine.txt"),
        (6, "2 stderr lines besides the verdict on a quiet exit"),
        (7, "hang: no answer"),
        (8, "killed by signal 9"),
        (9, "RSS past"),
        (11, "escaped main: KeyboardInterrupt"),
        (12, "exit 3, expected one of [0, 1, 2]"),
        (13, "exit 2, expected one of [0]"),
        (14, "missing output: out/report.html"),
        (15, "stderr line names no error: 'something went wrong'"),
        (16, "a stderr line of 5012 characters"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_each_breach_is_named(outcomes, index, expected):
    assert any(problem.startswith(expected) for problem in _problems(outcomes, index)), _problems(
        outcomes, index
    )


def test_peak_rss_is_measured_per_case(outcomes):
    # 300 MB touched in case 10, none in case 1 run by the same worker: the mark was reset.
    allocating, quiet = outcomes[10][1], outcomes[1][1]
    assert allocating.peak_rss >= 300 << 20
    assert any(p.startswith("peak RSS") for p in _problems(outcomes, 10, rss_limit=200 << 20))
    assert quiet.peak_rss < allocating.peak_rss


def test_the_worker_is_replaced_after_a_kill(outcomes):
    # Cases after the hang, the signal and the runaway allocation still ran and answered.
    assert outcomes[10][1].code == 0
    assert outcomes[12][1].code == 3


def test_a_case_is_replayable_as_a_command_line():
    with pytest.raises(ValueError, match="NUL"):
        Case("bad/nul", ("audit", "a\x00b"))


def test_outputs_of_a_failed_run_are_leftovers(tmp_path: Path):
    # A refusal (exit 2) may not leave even the files a success would have written.
    case = Case("runner/leftover", ("audit", "leftover", "--quiet"), outputs=(".out.partial-1234",))
    with Pool(1, tmp_path, timeout=TIMEOUT, entry=ENTRY) as pool:
        [(_, outcome)] = list(pool.run([case]))
    assert outcome.leftovers == [".out.partial-1234"]
